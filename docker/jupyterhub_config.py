# JupyterHub with JLN: what docker-compose.yml's `hub` profile runs (docker/README.md), and a
# worked example for any hub. Users alice and bob, the group ml (alice), the hub admin `admin`;
# each user's server is JupyterLab with JLN reading the Redis at $JLN_URL; the hub runs JLN's
# announcement service for admins. tests/hub/test_docker_config.py starts a real hub from this
# file (with this machine's ports and directories) and checks what it promises.
#
# From the environment: JLN_URL (the Redis, with its password), HUB_PASSWORD (alice's and
# bob's, 8 characters or more), HUB_ADMIN_PASSWORD (the admin's, 32 characters or more).
import os

c = get_config()  # noqa: F821 (JupyterHub defines it when it loads this file)

# --- the hub ---------------------------------------------------------------------------------
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/data/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/data/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "/srv/jupyterhub/data/jupyterhub-proxy.pid"

# --- who: one shared password for users, another for admins ---------------------------------
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["HUB_PASSWORD"]
c.SharedPasswordAuthenticator.admin_password = os.environ.get("HUB_ADMIN_PASSWORD") or None
c.Authenticator.allowed_users = {"alice", "bob"}
c.Authenticator.admin_users = {"admin"}  # may broadcast from any server (JLN's publish policy)
c.JupyterHub.load_groups = {"ml": {"users": ["alice"]}}

# --- each user's server: JupyterLab with JLN ---------------------------------------------------
# Local processes of the container's one account, a home each (not for untrusted users: a
# container or Kubernetes spawner isolates them; the JLN settings below stay the same).
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "/srv/jupyterhub/users/{username}"
c.Spawner.default_url = "/lab"
# The hub passes on only the variables it is told to: JLN.redis_url's default is $JLN_URL.
# (JLN_SECRET, the publisher secret, would go here too; the hub admin needs none.)
c.Spawner.environment = {"JLN_URL": os.environ["JLN_URL"]}
# A server reads the streams of its user's groups. It learns them from the hub: from the user
# model on each request, and by asking hub/api/user with its own token every
# JLN.hub_groups_interval seconds (60), so that a group left on the hub stops being read soon.
# Both need the scope read:users:groups!user. JupyterHub 6 puts it in every token's identity
# already; saying so keeps it on hubs that do not.
c.Spawner.oauth_client_allowed_scopes = ["read:users:groups!user"]
c.Spawner.server_token_scopes = [
    "users:activity!user",  # the hub's default for a server's token: activity, and
    "access:servers!server",  # access to itself
    "read:users:groups!user",
]
# c.Spawner.args = ["--JLN.hub_groups_interval=30"]  # any JLN setting, per server

# --- JLN's announcement service for hub admins --------------------------------------------------
# Kept in step with jln_hub/ (its module docstrings name the scopes it needs).
c.JupyterHub.services = [
    {
        "name": "announcements",
        "url": "http://127.0.0.1:10101",
        "command": ["jln-hub"],
        "environment": {"JLN_URL": os.environ["JLN_URL"]},
        # Its OAuth tokens may carry the scope it checks for users who are not admins.
        "oauth_client_allowed_scopes": ["custom:jln:announce"],
        "oauth_no_confirm": True,
        "display": True,
    },
]
c.JupyterHub.load_roles = [
    {
        "name": "jln-announcements",
        "description": "What the announcement service asks of the hub: the users, their "
                       "groups and servers, whether a group exists",
        "scopes": ["list:users", "read:users", "read:users:groups", "read:servers",
                   "read:groups"],
        "services": ["announcements"],
    },
    {
        # Users who may use the service without being hub admins (none here).
        "name": "jln-announcers",
        "scopes": ["custom:jln:announce", "access:services!service=announcements"],
        "users": [],
    },
]
c.JupyterHub.custom_scopes = {
    "custom:jln:announce": {"description": "Send, list and withdraw JLN announcements"},
}
