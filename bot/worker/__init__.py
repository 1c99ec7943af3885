"""The worker process: arq settings, the job, supervision, the sweeper and the use cases."""
