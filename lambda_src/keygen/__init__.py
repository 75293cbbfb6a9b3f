"""Validator key generation at deploy time (invoked once per apply by Terraform).

Packaged as the top-level ``keygen`` package of the Lambda zip (handler
``keygen.handler.handler``); in the repository it is ``lambda_src.keygen``. Modules import each
other relatively so both layouts work.
"""
