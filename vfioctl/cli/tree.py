"""``vfioctl tree``: parse, call :func:`vfioctl.ops.tree.build_tree`, hand the
report to the output (renderers in :mod:`vfioctl.present.tree`)."""

from __future__ import annotations

from typing import List, Optional

import typer
from typing import Annotated

from vfioctl.cli.base import DevicesArg, JsonOpt, _state, app


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
    dot: Annotated[bool, typer.Option("--dot", help="Print a Graphviz (DOT) picture instead: IOMMU groups as clusters, the reset scope highlighted ('| dot -Tsvg').")] = False,
    json_: JsonOpt = False,
) -> None:
    """The PCI hierarchy as a tree, with the reset scope of each DEVICE drawn on it.

    Root complex, root ports, switch ports, PCIe-to-PCI bridges, hotplug slots,
    functions and SR-IOV VFs below their PF, each with its driver, IOMMU group,
    VFIO nodes and holders.  With DEVICE (group:N for every function of a
    group): the bridge or slot a hot reset of it would reset, every function
    it hits (marked differently when outside the dev_set or held), and the
    verdict in each access mode (legacy groups, as hot-reset --legacy; iommufd,
    as --iommufd); only the root complexes holding a DEVICE are drawn unless
    --all.  Filters keep
    the path from each match to its root.  Text as the global --format says
    (table: colour on a terminal; plain), --dot for Graphviz, --json for the
    document.  Reads sysfs only; exit status 0."""
    from vfioctl.errors import UsageError
    from vfioctl.ops import tree as ops_tree
    from vfioctl.ops.targets import resolve_targets
    from vfioctl.present import tree as pt
    st = _state(ctx)
    out = st.out(json_)
    if dot and out.json_mode:
        raise UsageError("--dot and --json cannot be combined",
                         "use --dot for the Graphviz picture or --json for the document")
    host = st.host()
    targets = resolve_targets(host, devices or [])
    rep = ops_tree.build_tree(host, targets, vfio=vfio, group=group, classes=klass,
                              driver=driver, all_roots=all_roots)
    if dot:
        out.text(pt.render_dot(pt.tree_doc(rep)))
    elif ascii_only:
        d = pt.tree_doc(rep)
        out.emit(d, lambda c: pt.render_tree(d, c, ascii_only=True))
    else:
        out.report(rep)
