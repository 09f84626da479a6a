#!/usr/bin/env bash
# Installs the hotline for production on Debian 12 or Ubuntu 24.04, as root. Safe to run again:
# it creates what is missing, upgrades the package, and never overwrites settings, the secret or data.
#
#   scripts/install.sh [options]            install or upgrade
#   scripts/install.sh --uninstall          remove what it added; keep the data, settings and secret
#
# Options:
#   --root DIR            install under DIR instead of / and start nothing (for tests: the units and
#                         ivr.toml still name /etc/ivr, /var/lib/ivr, /opt/ivr; the virtualenv runs
#                         from DIR/opt/ivr only, so this is no way to build an image for another root)
#   --no-systemd          write the units but do not enable or start them
#   --no-apt              do not install Debian packages (they must be there already)
#   --pip-args "ARGS"     extra arguments for pip (e.g. "--no-index --find-links /srv/wheels")
#   --backup-recipient K  the age public key backups are encrypted to (from `ivr backup keygen`)
#   --asterisk-from DIR   also build and install Asterisk 22 from DIR (see scripts/install-asterisk.sh)
#   --asterisk-tarball F --asterisk-sha256 HEX [--pjproject F]
#                         also build Asterisk 22 from an official release tarball checked against HEX
#
# Lays out: user `ivr`, group `ivr-asterisk` (shared with the asterisk user: fallback voicemails,
# prompts), /etc/ivr/ivr.toml (0640 root:ivr), /etc/ivr/secret (0600 ivr), /var/lib/ivr (data),
# /var/backups/ivr, /opt/ivr/src + /opt/ivr/venv (the package, without test tools), and the systemd
# units ivr.service, ivr-backup.timer and ivr-retention.timer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src_repo=$(cd "$here/.." && pwd)

root="" systemd=1 apt=1 uninstall=0 pip_args="" recipient="" ast_from="" ast_tarball="" ast_sha="" ast_pj=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$(realpath -m "$2"); shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    --no-apt) apt=0; shift ;;
    --pip-args) pip_args=$2; shift 2 ;;
    --backup-recipient) recipient=$2; shift 2 ;;
    --asterisk-from) ast_from=$2; shift 2 ;;
    --asterisk-tarball) ast_tarball=$2; shift 2 ;;
    --asterisk-sha256) ast_sha=$2; shift 2 ;;
    --pjproject) ast_pj=$2; shift 2 ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install: run as root" >&2; exit 1; }
if [ -n "$root" ]; then systemd=0; fi

ETC=$root/etc/ivr DATA=$root/var/lib/ivr BACKUPS=$root/var/backups/ivr OPT=$root/opt/ivr
UNITS=$root/etc/systemd/system
UNIT_FILES=(ivr.service ivr-backup.service ivr-backup.timer ivr-retention.service ivr-retention.timer)
USER_NAME=ivr SHARED_GROUP=ivr-asterisk
prefix_opt=(); [ -n "$root" ] && prefix_opt=(--prefix "$root")
say() { echo "install: $*"; }

id_of() {  # id_of passwd|group NAME -> numeric id in the target root's databases
  awk -F: -v n="$2" '$1 == n { print $3 }' "$root/etc/$1"
}
has_user() { [ -n "$(id_of passwd "$1")" ]; }
has_group() { [ -n "$(id_of group "$1")" ]; }

if [ "$uninstall" = 1 ]; then
  if [ "$systemd" = 1 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now ivr.service ivr-backup.timer ivr-retention.timer 2>/dev/null || true
  fi
  for unit in "${UNIT_FILES[@]}"; do rm -f "$UNITS/$unit"; done
  if [ "$systemd" = 1 ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
  rm -rf "$OPT" "$root/usr/local/bin/ivr"
  if has_user "$USER_NAME"; then userdel "${prefix_opt[@]}" "$USER_NAME"; fi
  # userdel leaves the user's own group where login.defs says USERGROUPS_ENAB no (or has none, under --root).
  if has_group "$USER_NAME"; then groupdel "${prefix_opt[@]}" "$USER_NAME"; fi
  if has_group "$SHARED_GROUP"; then groupdel "${prefix_opt[@]}" "$SHARED_GROUP"; fi
  say "removed the units, /opt/ivr, the ivr user and the $SHARED_GROUP group"
  say "kept: $DATA (cases, recordings), $BACKUPS, $ETC (settings and the secret, which the data needs)"
  exit 0
fi

# -- packages ------------------------------------------------------------------------------------------------
if [ "$apt" = 1 ]; then
  need=(ffmpeg sox libsox-fmt-all espeak-ng python3 python3-venv python3-pip sqlite3)
  missing=()
  for pkg in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "install: Python 3.11+ is needed" >&2; exit 1; }

# -- user and group ------------------------------------------------------------------------------------------
has_group "$SHARED_GROUP" || groupadd "${prefix_opt[@]}" --system "$SHARED_GROUP"
if ! has_user "$USER_NAME"; then
  # Its own group, unless one of that name is left over (a user removed by hand): then that one.
  own_group=(--user-group); has_group "$USER_NAME" && own_group=(--gid "$USER_NAME")
  useradd "${prefix_opt[@]}" --system "${own_group[@]}" --home-dir /var/lib/ivr --no-create-home \
    --shell /usr/sbin/nologin --comment "worker voice hotline" "$USER_NAME"
fi
usermod "${prefix_opt[@]}" -a -G "$SHARED_GROUP" "$USER_NAME"
# The hotline gives replies Asterisk plays to the asterisk group: it must be a member to do so.
if has_user asterisk; then usermod "${prefix_opt[@]}" -a -G "$SHARED_GROUP" asterisk; fi
if has_group asterisk; then usermod "${prefix_opt[@]}" -a -G asterisk "$USER_NAME"; fi
uid=$(id_of passwd "$USER_NAME") gid=$(id_of group "$USER_NAME") sgid=$(id_of group "$SHARED_GROUP")

# -- folders: owner:group mode ---------------------------------------------------------------------------------
install -d -o 0 -g "$gid" -m 0750 "$ETC"
install -d -o "$uid" -g "$sgid" -m 0750 "$DATA"          # asterisk walks into prompts/, fallback/, replies
install -d -o "$uid" -g "$sgid" -m 2770 "$DATA/fallback" "$DATA/fallback/tmp" # the dialplan's voicemails while the engine is away
install -d -o "$uid" -g "$sgid" -m 2750 "$DATA/prompts"  # asterisk plays the built prompts from here
install -d -o "$uid" -g "$sgid" -m 0750 "$DATA/recordings"   # replies, which Asterisk plays, are in here
install -d -o "$uid" -g "$gid" -m 0750 "$DATA/models" "$DATA/prompt-sources"
install -d -o "$uid" -g "$gid" -m 0700 "$BACKUPS"
# A reinstall after --uninstall gets a new uid, and a restore leaves root's files: give them back.
if [ -n "$(find "$DATA" "$BACKUPS" -not -uid "$uid" -print -quit)" ]; then chown -R "$uid" "$DATA" "$BACKUPS"; fi
# What the hotline shares with Asterisk under recordings/ (group-readable: the replies it plays, their
# folders) belongs to the asterisk group, as the hotline makes it; a restore run as root left root's.
agid=$(id_of group asterisk)
if [ -n "$agid" ]; then
  find "$DATA/recordings" -mindepth 1 -perm -g=r -not -gid "$agid" -exec chgrp "$agid" {} +
fi
chgrp -R "$sgid" "$DATA/prompts" "$DATA/fallback"

if [ ! -s "$ETC/secret" ]; then
  (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(48))' > "$ETC/secret")
  say "generated $ETC/secret (back it up apart from the backups: see docs/deploy.md)"
fi
chown "$uid:$gid" "$ETC/secret" && chmod 0600 "$ETC/secret"

if [ ! -f "$ETC/ivr.toml" ]; then
  ari_password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  (umask 027 && cat > "$ETC/ivr.toml" <<EOF
# The hotline's settings (see the settings table in /opt/ivr/src/README.md). Written once by
# scripts/install.sh; edit freely, reinstalls keep it. Then: systemctl restart ivr
data_dir = "/var/lib/ivr"
secret_key_file = "/etc/ivr/secret"
prompts_dir = "/var/lib/ivr/prompt-sources"
flows_dir = "/opt/ivr/src/callflows"
models_dir = "/var/lib/ivr/models"
backup_dir = "/var/backups/ivr"
backup_recipient = "$recipient"
admin_bind = "127.0.0.1:8080"
# nginx on this machine (deploy/nginx/ivr.conf) says who the client is; sign-in limits count that.
trusted_proxies = "127.0.0.1"
ari_url = "http://127.0.0.1:8088"
ari_user = "hotline"
ari_password = "$ari_password"
ari_app = "hotline"
languages = "my,km,lo,th,ne,vi,en"
timezone = "Asia/Bangkok"
transfer_endpoint = ""
EOF
  )
  say "wrote $ETC/ivr.toml"
elif [ -n "$recipient" ]; then
  sed -i "s|^backup_recipient = .*|backup_recipient = \"$recipient\"|" "$ETC/ivr.toml"
fi
chown "0:$gid" "$ETC/ivr.toml" && chmod 0640 "$ETC/ivr.toml"

# -- the package -------------------------------------------------------------------------------------------------
install -d -m 0755 "$OPT" "$OPT/src"
# Only what runs: the package, its web templates, flows, prompt texts, Asterisk references, docs.
for part in ivr admin callflows prompts asterisk_conf deploy docs scripts pyproject.toml README.md; do
  if [ -e "$src_repo/$part" ]; then
    rm -rf "${OPT:?}/src/$part"
    cp -R "$src_repo/$part" "$OPT/src/$part"
  fi
done
find "$OPT/src" -name __pycache__ -prune -exec rm -rf {} +
# Source prompt recordings: new ones from this release are added; ones an admin uploaded stay.
cp -R -n "$OPT/src/prompts/." "$DATA/prompt-sources/"
cp "$OPT/src/prompts/catalog.yaml" "$DATA/prompt-sources/catalog.yaml"
chown -R "$uid:$gid" "$DATA/prompt-sources"
[ -x "$OPT/venv/bin/python" ] || python3 -m venv "$OPT/venv"
say "installing the package into $OPT/venv (log: $OPT/pip.log)"
# shellcheck disable=SC2086
if ! { "$OPT/venv/bin/pip" install -q --upgrade pip $pip_args \
       && "$OPT/venv/bin/pip" install -q $pip_args -e "$OPT/src"; } >"$OPT/pip.log" 2>&1; then
  tail -20 "$OPT/pip.log"; echo "install: pip failed; the whole log is in $OPT/pip.log" >&2; exit 1
fi

# The `ivr` command for the operator, with this deployment's settings (run it as the ivr user:
# `sudo -u ivr ivr status`, so files it makes belong to the service).
install -d -m 0755 "$root/usr/local/bin"
printf '%s\n' '#!/bin/sh' '# Installed by scripts/install.sh: the hotline command line with /etc/ivr/ivr.toml.' \
  'export IVR_CONFIG="${IVR_CONFIG:-/etc/ivr/ivr.toml}"' 'exec /opt/ivr/venv/bin/ivr "$@"' > "$root/usr/local/bin/ivr"
chmod 0755 "$root/usr/local/bin/ivr"

# -- systemd ------------------------------------------------------------------------------------------------------
install -d -m 0755 "$UNITS"
for unit in "${UNIT_FILES[@]}"; do install -m 0644 "$src_repo/deploy/systemd/$unit" "$UNITS/$unit"; done

# -- Asterisk (optional) ------------------------------------------------------------------------------------------
if [ -n "$ast_from" ] || [ -n "$ast_tarball" ]; then
  args=(--root "${root:-/}")
  [ "$apt" = 1 ] || args+=(--no-apt)
  [ -n "$ast_from" ] && args+=(--from "$ast_from")
  [ -n "$ast_tarball" ] && args+=(--tarball "$ast_tarball" --sha256 "$ast_sha")
  [ -n "$ast_pj" ] && args+=(--pjproject "$ast_pj")
  bash "$here/install-asterisk.sh" "${args[@]}"
  if has_user asterisk; then usermod "${prefix_opt[@]}" -a -G "$SHARED_GROUP" asterisk; fi
  if has_group asterisk; then usermod "${prefix_opt[@]}" -a -G asterisk "$USER_NAME"; fi
fi

if [ "$systemd" = 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable ivr.service ivr-backup.timer ivr-retention.timer
  say "units enabled; start with: systemctl start ivr ivr-backup.timer ivr-retention.timer"
else
  say "units written to $UNITS (not enabled: no running systemd, or --root/--no-systemd)"
fi
grep -q '^backup_recipient = "age1' "$ETC/ivr.toml" \
  || say "backups are off until you set backup_recipient in $ETC/ivr.toml (ivr backup keygen)"
say "done. Next: ivr asterisk config, ivr prompts build, ivr user add (docs/deploy.md)"
