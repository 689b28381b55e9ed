"""DNS: authoritative for ``settings.domain`` (and the reverse zones of its
addresses), REFUSED or forwarded for the rest. Layers, as in dnslib's server:

* :mod:`provisioner.dns.server`: sockets (UDP + TCP), forwarding, snapshot refresh;
* :mod:`provisioner.dns.wire`: ``get_reply(bytes) -> bytes`` with dnslib;
* :mod:`provisioner.dns.zone`: the pure resolver over a :class:`Snapshot`;
* :mod:`provisioner.dns.records`: where records come from (a callable).

``provisioner serve`` builds it with :func:`provisioner.daemons.dns_server` over
:func:`provisioner.daemons.node_records`.

Standalone: ``python -m provisioner.dns --help``.
"""
