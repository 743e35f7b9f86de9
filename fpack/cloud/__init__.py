"""Typed adapters over cloud SDKs (boto3, google-cloud-functions, the registry push): the only
modules that talk to a cloud. Each imports its SDK lazily, takes its endpoint and `sleep` from the
caller, turns SDK errors into `DeployError`s whose messages never carry credentials, and returns
frozen dataclasses, so the deploy planners stay pure and testable with in-memory fakes."""
