"""jln_server: the Jupyter server extension that pushes notifications to JupyterLab."""
