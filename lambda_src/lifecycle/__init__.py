"""Validator slot lifecycle: Auto Scaling launch and termination hooks, and the reconciler.

One package, three Lambda entry points (the same zip, three functions):

* ``lifecycle.launch_handler.handler``: EventBridge "EC2 Instance-launch Lifecycle Action";
* ``lifecycle.termination_handler.handler``: EventBridge "EC2 Instance-terminate Lifecycle
  Action";
* ``lifecycle.reconcile_handler.handler``: an EventBridge schedule.

Packaged as the top-level ``lifecycle`` package of the Lambda zip; in the repository it is
``lambda_src.lifecycle``. Modules import each other relatively so both layouts work. The data
flow, the instance/secret access mechanism and the host contract are in docs/replacement.md.
"""
