"""AWS Lambda handlers of the network (boto3 only at run time; packaged by the synth)."""
