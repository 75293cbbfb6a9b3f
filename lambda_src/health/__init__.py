"""Deep health check of the Besu nodes (invoked on a schedule, by default every minute).

Packaged as the top-level ``health`` package of the Lambda zip (handler
``health.handler.handler``); in the repository it is ``lambda_src.health``. Modules import each
other relatively so both layouts work. The package shares no code with ``keygen`` beyond
``besu_stack.besu``: its logger and errors are its own.
"""
