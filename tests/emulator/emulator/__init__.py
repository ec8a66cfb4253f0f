"""A local AWS emulator: moto, extended with the operations this project lives on.

moto (5.2.x) emulates EC2, Auto Scaling groups, ELBv2, SNS, SQS, SSM, Secrets Manager and
CloudWatch well, but answers HTML 500 for instance refreshes, lifecycle actions and
CodePipeline jobs/approvals. This package adds those as real state machines on top of
moto's own backends, plus control endpoints under ``/_emulator`` for tests.
"""
