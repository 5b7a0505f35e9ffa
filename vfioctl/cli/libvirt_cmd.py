"""``vfioctl libvirt-hook``: the body of libvirt's qemu hook (contrib/libvirt)."""

from __future__ import annotations

from typing import Optional

import typer
from typing import Annotated

from vfioctl.cli.base import JsonOpt, _state, app


@app.command("libvirt-hook")
def libvirt_hook_cmd(
    ctx: typer.Context,
    domain: Annotated[str, typer.Argument(metavar="DOMAIN", help="The domain's name (libvirt's first hook argument).")],
    operation: Annotated[str, typer.Argument(metavar="OPERATION", help="prepare, start, started, stopped, release, migrate, restore, reconnect or attach.")],
    sub_operation: Annotated[Optional[str], typer.Argument(metavar="SUB-OPERATION", help="begin, end or - .")] = "-",
    extra: Annotated[Optional[str], typer.Argument(metavar="EXTRA", help="Extra argument (- when none).")] = "-",
    json_: JsonOpt = False,
) -> None:
    """libvirt qemu hook: refuse to prepare an opted-in domain whose PCI hostdevs cannot be reset.

    Called by /etc/libvirt/hooks/qemu.d/vfioctl with libvirt's arguments and
    the domain XML on standard input.  Domains opt in with <vfioctl:reset
    require="yes" xmlns:vfioctl="urn:vfioctl:libvirt:1"/> in <metadata>.  At
    prepare, each <hostdev type="pci"> needs a function reset or a hot reset
    the VM can perform (managed hostdevs judged as bound to vfio-pci); otherwise
    exit 1 with the reason and remedy on standard error, which libvirt shows.
    Other operations and other domains exit 0.  Reads only."""
    import sys
    from vfioctl.errors import EXIT_NO, UsageError
    from vfioctl.ops import libvirt_hook as lh
    from vfioctl.present import fleet
    st = _state(ctx)
    out = st.out(json_)
    if operation == "prepare" and sys.stdin.isatty():
        raise UsageError("libvirt-hook reads the domain XML on standard input",
                         "pipe it: virsh dumpxml DOMAIN | vfioctl libvirt-hook DOMAIN prepare begin -")
    xml_text = "" if sys.stdin.isatty() else sys.stdin.read(lh.MAX_XML + 1)  # libvirt writes it
    rep = lh.hook(st.host, domain, operation, sub_operation or "-", xml_text)
    if rep.refused:
        out.stderr.write(fleet.refusal(rep))
    if out.json_mode or not rep.refused:
        out.report(rep)
    if rep.refused:
        raise typer.Exit(EXIT_NO)
