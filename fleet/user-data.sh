#!/bin/bash
# User data of the example fleet: boots the release this instance was launched for, with no
# shell access needed, then tells lifecycle-health through the bootstrap tag.
#
#   1. the release from the instance's own tags (deploy:release, deploy:stage, deploy:artifact)
#      through IMDSv2 (instance metadata tags are enabled in the launch template);
#   2. the release artifact from S3, unpacked into $FLEET_ROOT/releases/<release>;
#   3. secrets from SSM Parameter Store (every parameter under $FLEET_SECRETS_PATH, SecureString
#      decrypted) and Secrets Manager ($FLEET_SECRET_ID, a JSON object) into a root-only
#      environment file; no secret ever reaches a command line, the output or a log;
#   4. the logs EFS file system mounted (TLS) and application and system logs sent to a folder
#      of this instance on it;
#   5. Puppet manifests shipped with the release applied, if there are any;
#   6. the application started (systemd);
#   7. the instance tagged $FLEET_BOOTSTRAP_TAG=complete, with the time in $FLEET_BOOTSTRAP_TAG-at.
#      Any failure tags it =failed with a short reason in $FLEET_BOOTSTRAP_TAG-reason, so
#      lifecycle-health abandons it at once.
#
# Configuration comes from the environment; the launch template sets it in a preamble before
# this script (template.yaml), the sandbox tests set it themselves.
set -Eeuo pipefail
umask 077

: "${FLEET_APP:?FLEET_APP: the application name}"
FLEET_ROOT=${FLEET_ROOT:-/opt/$FLEET_APP}
FLEET_ENV_FILE=${FLEET_ENV_FILE:-/etc/$FLEET_APP/environment}
FLEET_SECRETS_PATH=${FLEET_SECRETS_PATH-}
FLEET_SECRET_ID=${FLEET_SECRET_ID-}
FLEET_EFS_ID=${FLEET_EFS_ID-}
FLEET_EFS_ACCESS_POINT=${FLEET_EFS_ACCESS_POINT-}
FLEET_LOG_MOUNT=${FLEET_LOG_MOUNT:-/mnt/logs}
FLEET_APP_LOG_DIR=${FLEET_APP_LOG_DIR:-/var/log/$FLEET_APP}
FLEET_SYSTEMD_DIR=${FLEET_SYSTEMD_DIR:-/etc/systemd/system}
FLEET_BOOTSTRAP_TAG=${FLEET_BOOTSTRAP_TAG:-bootstrap}
FLEET_IMDS=${FLEET_IMDS:-http://169.254.169.254}

step=""
instance_id=""
region=""
environment=""

# The reason tag: the step that failed, in the characters EC2 tag values allow (letters,
# digits, spaces and + - = . _ : / @; no parentheses), at most 256.
reason_of() {
  printf '%s - exit %s' "$step" "$1" | tr -c 'A-Za-z0-9 +=._:/@-' ' ' | cut -c1-256
}

# Every bootstrap tag goes with $FLEET_BOOTSTRAP_TAG-at, the time this boot set it: a tag outlives
# its boot (a root volume replacement keeps the instance and its tags), and lifecycle-health
# counts only a tag newer than the instance's root volume.
tag_self() {
  aws ec2 create-tags --region "$region" --resources "$instance_id" \
    --tags "$@" "Key=$FLEET_BOOTSTRAP_TAG-at,Value=$(date -u +%Y-%m-%dT%H:%M:%SZ)" >/dev/null
}

on_error() {
  local status=$1
  trap - ERR
  set +e
  echo "bootstrap failed while $step (exit $status)" >&2
  [ -n "$environment" ] && rm -f "$environment"
  if [ -n "$instance_id" ] && [ -n "$region" ]; then
    tag_self "Key=$FLEET_BOOTSTRAP_TAG,Value=failed" "Key=$FLEET_BOOTSTRAP_TAG-reason,Value=$(reason_of "$status")"
  fi
  exit "$status"
}
trap 'on_error $?' ERR

# Each step is announced (the boot log is cloud-init's output) and named in a failure's reason.
begin() {
  step=$1
  echo "==> $step"
}

# ---- 1. who am I, and which release (IMDSv2: a session token, then the metadata)
begin "reading the instance metadata"
token=$(curl -fsS --retry 5 --retry-connrefused -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 21600" "$FLEET_IMDS/latest/api/token")
metadata() {
  curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $token" "$FLEET_IMDS/latest/meta-data/$1"
}
instance_id=$(metadata instance-id)
region=$(metadata placement/region)
begin "reading the release tags - instance metadata tags must be enabled"
release=$(metadata tags/instance/deploy:release)
stage=$(metadata tags/instance/deploy:stage)
artifact=$(metadata tags/instance/deploy:artifact)
echo "instance $instance_id in $region: release $release for $stage from $artifact"

# ---- 2. the release
begin "downloading the release artifact $artifact"
release_dir=$FLEET_ROOT/releases/$release
download=$(mktemp -d)
aws s3 cp --only-show-errors --region "$region" "$artifact" "$download/release.zip"
begin "unpacking the release artifact"
rm -rf "$release_dir.partial"
mkdir -p "$release_dir.partial"
unzip -q "$download/release.zip" -d "$release_dir.partial"
rm -rf "$download" "$release_dir"
mv "$release_dir.partial" "$release_dir"
ln -sfn "$release_dir" "$FLEET_ROOT/current"

# ---- 3. secrets, straight from the CLI's output into the file (never a variable, never argv)
begin "preparing the environment file $FLEET_ENV_FILE"
mkdir -p "$(dirname "$FLEET_ENV_FILE")"
environment=$(mktemp "$FLEET_ENV_FILE.XXXXXX")
write_environment() {
  # stdin: JSON from the CLI; $1: ssm or secret. Appends KEY="value" lines (systemd syntax).
  python3 -c '
import json, re, sys
kind, data = sys.argv[1], json.load(sys.stdin)
if kind == "ssm":
    pairs = [(p["Name"].rsplit("/", 1)[-1], p["Value"]) for p in data]
else:
    pairs = json.loads(data)
    if not isinstance(pairs, dict):
        sys.exit("the secret is not a JSON object of names to values")
    pairs = pairs.items()
for name, value in pairs:
    key = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
    value = str(value).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")
    print(f"{key}=\"{value}\"")
' "$1" >>"$environment"
}
if [ -n "$FLEET_SECRETS_PATH" ]; then
  begin "reading SSM parameters under $FLEET_SECRETS_PATH"
  aws ssm get-parameters-by-path --region "$region" --path "$FLEET_SECRETS_PATH" --recursive --with-decryption \
    --query Parameters --output json | write_environment ssm
fi
if [ -n "$FLEET_SECRET_ID" ]; then
  begin "reading secret $FLEET_SECRET_ID from Secrets Manager"
  aws secretsmanager get-secret-value --region "$region" --secret-id "$FLEET_SECRET_ID" \
    --query SecretString --output json | write_environment secret
fi
begin "writing the environment file $FLEET_ENV_FILE"
printf 'RELEASE="%s"\nSTAGE="%s"\n' "$release" "$stage" >>"$environment"
chmod 600 "$environment"
mv "$environment" "$FLEET_ENV_FILE"
environment=""

# ---- 4. logs on EFS, in a folder of this instance
if [ -n "$FLEET_EFS_ID" ]; then
  begin "mounting EFS $FLEET_EFS_ID over TLS"
  mkdir -p "$FLEET_LOG_MOUNT"
  mount -t efs -o "tls,iam${FLEET_EFS_ACCESS_POINT:+,accesspoint=$FLEET_EFS_ACCESS_POINT}" "$FLEET_EFS_ID:/" "$FLEET_LOG_MOUNT"
  logs=$FLEET_LOG_MOUNT/$stage/$instance_id
  begin "preparing the log folder $logs"
  mkdir -p "$logs/app"
  mkdir -p "$(dirname "$FLEET_APP_LOG_DIR")"
  ln -sfn "$logs/app" "$FLEET_APP_LOG_DIR"
  cat >"$FLEET_SYSTEMD_DIR/fleet-system-log.service" <<UNIT
[Unit]
Description=System log of this instance to EFS
After=remote-fs.target
[Service]
ExecStart=/bin/sh -c 'exec journalctl --follow --output=short-iso >>"$logs/system.log"'
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable --now fleet-system-log.service
fi

# ---- 5. Puppet, when the release ships manifests
manifests=$release_dir/puppet/manifests
if [ -d "$manifests" ]; then
  begin "applying the Puppet manifests of the release"
  status=0
  puppet apply --detailed-exitcodes --modulepath "$release_dir/puppet/modules" "$manifests" || status=$?
  # --detailed-exitcodes: 2 means changes were applied, which is success.
  if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
    on_error "$status"
  fi
fi

# ---- 6. the application: the release's own unit, or one that runs bin/start
begin "starting $FLEET_APP"
unit=$FLEET_SYSTEMD_DIR/$FLEET_APP.service
if [ -f "$release_dir/deploy/$FLEET_APP.service" ]; then
  cp "$release_dir/deploy/$FLEET_APP.service" "$unit"
else
  cat >"$unit" <<UNIT
[Unit]
Description=$FLEET_APP $release
After=network-online.target remote-fs.target
[Service]
EnvironmentFile=$FLEET_ENV_FILE
WorkingDirectory=$FLEET_ROOT/current
ExecStart=$FLEET_ROOT/current/bin/start
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
fi
systemctl daemon-reload
systemctl enable --now "$FLEET_APP.service"

# ---- 7. tell lifecycle-health
begin "tagging the instance $FLEET_BOOTSTRAP_TAG=complete"
tag_self "Key=$FLEET_BOOTSTRAP_TAG,Value=complete"
echo "bootstrap complete: release $release is running on $instance_id"
