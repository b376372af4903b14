"""The OCPP ingress, on the domain (``csms.domain``), never the reverse; the domain's workers
reach it through ``csms.domain.ports``. By concern: ``server`` (accept, handshake,
subprotocol, the process's lifecycle), ``link`` (one connection: frames, dispatch, units
committed before the answer), ``v16`` and ``v201`` (the handlers), ``registry`` (the
stations connected to this process, commands to them), ``processes`` (``centrale ingress``,
one process or several). ``make lint`` checks that order (pyproject.toml).
"""
