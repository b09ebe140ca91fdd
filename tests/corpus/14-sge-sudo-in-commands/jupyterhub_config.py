# Pattern of: https://github.com/jupyterhub/batchspawner/issues/9 (the site's changes in its description)
# Grid Engine whose submit, status and cancel commands carry `sudo -i -E -u {username}`
# themselves (for the SGE_* variables of a login shell), and req_keepvars naming them.
# Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.GridengineSpawner"
c.GridengineSpawner.ssh_host = "uge.example.com"
c.GridengineSpawner.batch_submit_cmd = "sudo -i -E -u {username} qsub"
c.GridengineSpawner.batch_query_cmd = "sudo -i -E -u {username} qstat -xml"
c.GridengineSpawner.batch_cancel_cmd = "sudo -i -E -u {username} qdel {job_id}"
c.GridengineSpawner.req_keepvars_extra = "SGE_ROOT,SGE_CELL,SGE_CLUSTER_NAME"
c.GridengineSpawner.req_runtime = "8:00:00"
