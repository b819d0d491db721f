"""JLN's announcement service for JupyterHub: hub admins send notices to everyone, a group or
some users through JLN's streams (pushed live to running servers, shown by servers that start
later while not expired), see who read or acknowledged them, and withdraw them.

It imports ``jln_broker`` and ``jupyterhub``, never ``jln_server``; neither of those imports it.
"""
