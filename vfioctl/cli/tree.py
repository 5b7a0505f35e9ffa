"""``vfioctl tree``: a thin command over :mod:`vfioctl.ops.tree` and
:mod:`vfioctl.present.tree`."""

from __future__ import annotations

from typing import List, Optional

import typer
from typing import Annotated

from vfioctl.cli.app import DevicesArg, JsonOpt, _state, app

TREE_FORMATS = ("text", "json", "dot")


@app.command("tree")
def tree_cmd(
    ctx: typer.Context,
    devices: DevicesArg = None,
    vfio: Annotated[bool, typer.Option("--vfio", help="Only functions bound to vfio-pci (or a variant), with the path to their root.")] = False,
    group: Annotated[Optional[int], typer.Option("--group", "-g", metavar="N", help="Only members of IOMMU group N, with the path to their root.")] = None,
    klass: Annotated[Optional[List[str]], typer.Option("--class", "-c", metavar="CLASS",
                                                       help="Only this class (as list --class; repeatable), with the path to the root.")] = None,
    driver: Annotated[Optional[str], typer.Option("--driver", "-d", metavar="NAME", help="Only functions bound to this driver ('none' for unbound).")] = None,
    all_roots: Annotated[bool, typer.Option("--all", "-a", help="With DEVICE: also the root complexes that do not hold it.")] = False,
    ascii_only: Annotated[bool, typer.Option("--ascii", help="Draw with ASCII only (the default when the locale or output is not UTF-8).")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="text|json|dot",
                                     help="text (default), json (as --json) or dot (Graphviz: IOMMU groups as clusters, reset scope highlighted).")] = "text",
    json_: JsonOpt = False,
) -> None:
    """The PCI hierarchy as a tree, with the reset scope of each DEVICE drawn on it.

    Root complex, root ports, switch ports, PCIe-to-PCI bridges, hotplug slots,
    functions and SR-IOV VFs below their PF, each with its driver, IOMMU group,
    VFIO nodes and holders.  With DEVICE: the bridge or slot a hot reset of it
    would reset, every function it hits (marked differently when outside the
    dev_set or held), and the verdict per access mode; only the root complexes
    holding a DEVICE are drawn unless --all.  Filters keep the path from each
    match to its root.  Reads sysfs only; exit status 0."""
    from vfioctl.errors import UsageError
    from vfioctl.ops import tree as ops_tree
    from vfioctl.ops.resolve import resolve_device
    from vfioctl.present import tree as pt
    if fmt not in TREE_FORMATS:
        raise UsageError(f"tree --format must be text, json or dot, not {fmt!r}",
                         "use --format text, --format json or --format dot")
    st = _state(ctx)
    out = st.out(json_ or fmt == "json")
    host = st.host()
    targets = []
    for dev in devices or ():
        fn = resolve_device(host, dev)
        if fn not in targets:
            targets.append(fn)
    t = ops_tree.build_tree(host, targets, vfio=vfio, group=group, classes=klass,
                            driver=driver, all_roots=all_roots)
    d = pt.tree_doc(t)
    if out.json_mode:
        out.emit(d, lambda c: None)
        return
    out.emitted = True
    if fmt == "dot":
        out.stdout.write(pt.render_dot(d))
    else:
        pt.write_text(d, out.stdout, width=pt.width_for(out.stdout),
                      unicode=pt.use_unicode(out.stdout, ascii_only=ascii_only),
                      colour=pt.use_colour(out.stdout, st.fmt))
    out.stdout.flush()
