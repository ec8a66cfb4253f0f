"""fleet/user-data.sh, run for real: what an instance of the example fleet does at boot."""

import stat
from datetime import UTC, datetime

from conftest import API_KEY, ARTIFACT, DB_PASSWORD, RELEASE, Sandbox, release_zip


def everything_written(box: Sandbox, done) -> str:
    """All the script printed, recorded and wrote outside the environment file."""
    texts = [done.stdout, done.stderr, "\n".join(box.calls()), repr(box.tags())]
    for path in box.root.rglob("*"):
        if path.is_file() and not path.name.startswith("environment") and path.name != "aws-config":
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def test_a_healthy_boot_runs_the_release_with_its_secrets_and_tags_the_instance_complete(sandbox: Sandbox):
    done = sandbox.run()
    assert done.returncode == 0, done.stderr
    print(done.stdout + done.stderr)

    current = sandbox.path("FLEET_ROOT") / "current"
    assert current.resolve() == sandbox.path("FLEET_ROOT") / "releases" / RELEASE
    assert (current / "bin" / "start").exists() and (current / "VERSION").read_text() == RELEASE

    env_file = sandbox.path("FLEET_ENV_FILE")
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    lines = env_file.read_text().splitlines()
    assert f'DATABASE_PASSWORD="{DB_PASSWORD}"' in lines
    assert 'CHECKOUT_V2="on"' in lines, "nested parameters are read too (recursive)"
    assert f'API_KEY="{API_KEY}"' in lines
    assert 'QUOTE_D="a\\"b"' in lines, "quotes are escaped for systemd's EnvironmentFile"
    assert f'RELEASE="{RELEASE}"' in lines and 'STAGE="staging"' in lines
    assert list(env_file.parent.iterdir()) == [env_file], "no temporary file left beside it"

    mount = sandbox.path("FLEET_LOG_MOUNT")
    logs = mount / "staging" / sandbox.instance_id
    assert sandbox.calls() == [
        f"mount -t efs -o tls,iam,accesspoint=fsap-0123456789abcdef0 fs-0123456789abcdef0:/ {mount}",
        "systemctl daemon-reload",
        "systemctl enable --now fleet-system-log.service",
        "systemctl daemon-reload",
        "systemctl enable --now web.service",
    ]
    assert sandbox.path("FLEET_APP_LOG_DIR").resolve() == logs / "app"
    system_log_unit = (sandbox.path("FLEET_SYSTEMD_DIR") / "fleet-system-log.service").read_text()
    assert f'>>"{logs}/system.log"' in system_log_unit
    app_unit = (sandbox.path("FLEET_SYSTEMD_DIR") / "web.service").read_text()
    assert f"EnvironmentFile={env_file}" in app_unit and f"ExecStart={current}/bin/start" in app_unit

    assert sandbox.tags()["bootstrap"] == "complete"
    assert "bootstrap-reason" not in sandbox.tags()
    # The boot's time beside it: lifecycle-health counts only a tag newer than the root volume.
    tagged_at = datetime.strptime(sandbox.tags()["bootstrap-at"], "%Y-%m-%dT%H:%M:%S%z")
    assert abs((datetime.now(UTC) - tagged_at).total_seconds()) < 600
    assert done.imds_refused == [], "every metadata read used the IMDSv2 token"
    assert f"bootstrap complete: release {RELEASE} is running on {sandbox.instance_id}" in done.stdout


def test_a_missing_secret_fails_the_boot_with_a_reason_and_starts_nothing(sandbox: Sandbox):
    sandbox.client("secretsmanager").delete_secret(SecretId="web/staging", ForceDeleteWithoutRecovery=True)
    done = sandbox.run()
    assert done.returncode != 0
    tags = sandbox.tags()
    assert tags["bootstrap"] == "failed" and tags["bootstrap-at"].endswith("Z")
    assert tags["bootstrap-reason"].startswith("reading secret web/staging from Secrets Manager - exit "), tags
    assert sandbox.calls() == [], "nothing mounted, nothing started"
    env_dir = sandbox.path("FLEET_ENV_FILE").parent
    assert list(env_dir.iterdir()) == [], "no environment file, not even a partial one"


def test_a_missing_artifact_fails_the_boot_before_any_secret_is_read(sandbox: Sandbox):
    bucket, key = ARTIFACT.removeprefix("s3://").split("/", 1)
    sandbox.client("s3").delete_object(Bucket=bucket, Key=key)
    done = sandbox.run()
    assert done.returncode != 0
    assert sandbox.tags()["bootstrap"] == "failed"
    assert sandbox.tags()["bootstrap-reason"].startswith(f"downloading the release artifact {ARTIFACT} - exit ")
    assert not (sandbox.path("FLEET_ROOT") / "releases" / RELEASE).exists()
    assert not sandbox.path("FLEET_ENV_FILE").parent.exists()
    assert sandbox.calls() == []


def test_an_instance_without_release_tags_fails_saying_to_enable_metadata_tags(sandbox: Sandbox):
    sandbox.client("ec2").delete_tags(Resources=[sandbox.instance_id], Tags=[{"Key": "deploy:release"}])
    done = sandbox.run()
    assert done.returncode != 0
    assert sandbox.tags()["bootstrap-reason"].startswith(
        "reading the release tags - instance metadata tags must be enabled - exit "
    )


def test_puppet_manifests_shipped_with_the_release_are_applied_and_a_failed_apply_fails_the_boot(sandbox: Sandbox):
    bucket, key = ARTIFACT.removeprefix("s3://").split("/", 1)
    files = {"bin/start": "#!/bin/sh\n", "puppet/manifests/site.pp": "node default { }\n", "puppet/modules/.keep": ""}
    sandbox.client("s3").put_object(Bucket=bucket, Key=key, Body=release_zip(files))
    release_dir = sandbox.path("FLEET_ROOT") / "releases" / RELEASE

    sandbox.env["FLEET_STANDIN_EXIT_PUPPET"] = "2"  # --detailed-exitcodes: changes applied
    assert sandbox.run().returncode == 0
    apply = (
        f"puppet apply --detailed-exitcodes --modulepath {release_dir}/puppet/modules {release_dir}/puppet/manifests"
    )
    assert apply in sandbox.calls()
    assert sandbox.tags()["bootstrap"] == "complete"

    sandbox.env["FLEET_STANDIN_EXIT_PUPPET"] = "6"  # changes and failures
    assert sandbox.run().returncode == 6
    assert sandbox.tags()["bootstrap"] == "failed"
    assert sandbox.tags()["bootstrap-reason"] == "applying the Puppet manifests of the release - exit 6"


def test_a_manifest_that_calls_puppets_fail_function_fails_the_boot_with_puppets_error(sandbox: Sandbox):
    """What the local bad-release scenario ships: Puppet's built-in fail() stops catalog compilation."""
    bucket, key = ARTIFACT.removeprefix("s3://").split("/", 1)
    manifest = "node default {\n  fail('migration 0042 is missing')\n}\n"
    files = {"bin/start": "#!/bin/sh\n", "puppet/manifests/site.pp": manifest, "puppet/modules/.keep": ""}
    sandbox.client("s3").put_object(Bucket=bucket, Key=key, Body=release_zip(files))

    done = sandbox.run()

    assert done.returncode == 1
    assert "Error while evaluating a Function Call, migration 0042 is missing" in done.stderr
    assert sandbox.tags()["bootstrap"] == "failed"
    assert sandbox.tags()["bootstrap-reason"] == "applying the Puppet manifests of the release - exit 1"
    assert "systemctl enable --now web.service" not in sandbox.calls(), "the application never starts"


def test_no_secret_appears_in_the_output_the_logs_the_tags_or_any_file_but_the_environment_file(sandbox: Sandbox):
    ok = sandbox.run()
    assert ok.returncode == 0
    written = everything_written(sandbox, ok)
    assert DB_PASSWORD not in written and API_KEY not in written

    # A failure after the secrets were read: the reason tag and the output still hold none.
    sandbox.env["FLEET_STANDIN_EXIT_SYSTEMCTL"] = "1"
    failed = sandbox.run()
    assert failed.returncode != 0 and sandbox.tags()["bootstrap"] == "failed"
    written = everything_written(sandbox, failed)
    assert DB_PASSWORD not in written and API_KEY not in written
