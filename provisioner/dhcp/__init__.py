"""DHCPv4 for network boot: a codec (:mod:`.packet`, :mod:`.options`), the policy
as pure functions (:mod:`.policy`, :mod:`.leases`, :mod:`.boot`) and a thin
asyncio daemon (:mod:`.server`). See docs/dhcp.md.

Importing this package imports nothing else: the pure modules stay pure and the
daemon (sockets, asyncio) is only loaded by those who ask for it.
"""
