#!/usr/bin/env bash
# Builds and installs Asterisk 22 with its bundled pjproject (chan_pjsip), as root, without
# downloading anything on this machine.
#
#   install-asterisk.sh --from DIR
#       DIR holds a build.sh that builds and installs Asterisk (a prepared source folder).
#   install-asterisk.sh --tarball asterisk-22.X.Y.tar.gz --sha256 HEX --pjproject pjproject-2.N.tar.bz2
#       an official release tarball, fetched on a machine with internet together with its published
#       .sha256, and the pjproject tarball that release bundles (its third-party/versions.mak names it).
#   --root DIR   install under DIR (DESTDIR: the programs still expect to run from /); --prefix P
#                install prefix (default /usr); --no-apt   do not install Debian packages (the build
#                dependencies and asterisk-core-sounds-en-wav must be there already)
#
# The release's sound downloads are switched off (Debian's asterisk-core-sounds-en-wav gives the English
# core sounds, e.g. the beep before a message). Then creates the asterisk system user, gives it
# Asterisk's folders, writes /etc/asterisk/asterisk.conf (those folders, runuser asterisk) unless there
# is one, and installs deploy/systemd/asterisk.service, which starts Asterisk with it, not enabled.
# Refuses a tarball whose sha256 differs, before unpacking anything.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=/ prefix=/usr from="" tarball="" sha="" pj="" apt=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    --tarball) tarball=$2; shift 2 ;;
    --sha256) sha=$2; shift 2 ;;
    --pjproject) pj=$2; shift 2 ;;
    --no-apt) apt=0; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-asterisk: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install-asterisk: run as root" >&2; exit 1; }

if [ -n "$from" ]; then
  [ -f "$from/build.sh" ] || { echo "install-asterisk: $from has no build.sh" >&2; exit 1; }
  bash "$from/build.sh" "${root%/}$prefix"
elif [ -n "$tarball" ]; then
  [ -f "$tarball" ] || { echo "install-asterisk: $tarball does not exist" >&2; exit 1; }
  [ -n "$sha" ] || { echo "install-asterisk: --sha256 is required with --tarball" >&2; exit 1; }
  got=$(sha256sum "$tarball" | cut -d' ' -f1)
  if [ "$got" != "${sha,,}" ]; then
    echo "install-asterisk: $tarball has sha256 $got, not the published $sha; refusing it" >&2; exit 1
  fi
  [ -n "$pj" ] && [ -f "$pj" ] || { echo "install-asterisk: --pjproject FILE is required (no downloads here)" >&2; exit 1; }
  # libsystemd-dev: built with it, Asterisk tells systemd when it is up (its unit is then Type=notify).
  deps="build-essential pkg-config libjansson-dev libxml2-dev libsqlite3-dev uuid-dev libedit-dev libssl-dev
        libsystemd-dev bzip2 xz-utils asterisk-core-sounds-en-wav"
  missing=$(for p in $deps; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ] && [ "$apt" = 1 ]; then
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
  fi
  w=$(mktemp -d /tmp/asterisk-build.XXXXXX); trap 'rm -rf "$w"' EXIT
  mkdir -p "$w/src" "$w/ext"
  tar -xf "$tarball" -C "$w/src" --strip-components=1
  cp "$pj" "$w/ext/"
  (cd "$w/ext" && md5sum "$(basename "$pj")") > "$w/src/third-party/pjproject/$(basename "$pj").md5"
  cd "$w/src"
  echo "install-asterisk: building $(basename "$tarball") (log: $w/build.log; about 10 minutes on 2 cores)"
  # One && chain: `set -e` does not apply inside a group whose status is tested, so a failed step must
  # stop the rest itself.
  if ! {
    ./configure --prefix="$prefix" --with-pjproject-bundled --with-externals-cache="$w/ext" \
      --without-jansson-bundled \
    && make menuselect.makeopts \
    && for opt in CORE-SOUNDS-EN-GSM MOH-OPSOUND-WAV EXTRA-SOUNDS-EN-GSM; do
         # No downloads: the sounds the release would fetch at install time come from Debian instead.
         menuselect/menuselect --disable "$opt" menuselect.makeopts || true
       done \
    && make -j"$(nproc)" \
    && make install DESTDIR="${root%/}" \
    && { make install-logrotate DESTDIR="${root%/}" || true; }
  } >"$w/build.log" 2>&1; then
    tail -30 "$w/build.log"; echo "install-asterisk: build failed" >&2; exit 1
  fi
  sounds=${root%/}/var/lib/asterisk/sounds
  if [ -d /usr/share/asterisk/sounds/en_US_f_Allison ] && [ ! -e "$sounds/en" ]; then
    mkdir -p "$sounds" && ln -s /usr/share/asterisk/sounds/en_US_f_Allison "$sounds/en"
  fi
else
  echo "install-asterisk: give --from DIR or --tarball FILE --sha256 HEX --pjproject FILE" >&2; exit 2
fi

# Asterisk's own settings (its folders, the user it runs as), unless the operator has some already, and
# its unit, which starts it with them. Type=notify only where the build can tell systemd it is up.
etc=${root%/}/etc/asterisk
mkdir -p "$etc"
if [ ! -e "$etc/asterisk.conf" ]; then
  sed "s|@PREFIX@|${prefix%/}|g" "$repo/deploy/asterisk/asterisk.conf" > "$etc/asterisk.conf"
  chmod 0644 "$etc/asterisk.conf"
fi
type=simple
if ldd "${root%/}$prefix/sbin/asterisk" 2>/dev/null | grep -q libsystemd; then type=notify; fi
install -d -m 0755 "${root%/}/etc/systemd/system"
sed -e "s|^Type=.*|Type=$type|" -e "s|/usr/sbin/asterisk|${prefix%/}/sbin/asterisk|g" \
  "$repo/deploy/systemd/asterisk.service" > "${root%/}/etc/systemd/system/asterisk.service"
chmod 0644 "${root%/}/etc/systemd/system/asterisk.service"

prefix_opt=(); [ "$root" != / ] && prefix_opt=(--prefix "$root")
if ! awk -F: '$1 == "asterisk" { found = 1 } END { exit !found }' "${root%/}/etc/passwd"; then
  useradd "${prefix_opt[@]}" --system --user-group --home-dir /var/lib/asterisk --no-create-home \
    --shell /usr/sbin/nologin --comment "Asterisk PBX" asterisk
fi
# spool/recording: where ARI's recordings go (Asterisk answers 500 to a recording when it is missing).
owner=$(awk -F: '$1 == "asterisk" { print $3 ":" $4 }' "${root%/}/etc/passwd")
for d in /var/lib/asterisk /var/spool/asterisk /var/spool/asterisk/recording /var/log/asterisk /var/run/asterisk; do
  mkdir -p "${root%/}$d"
  chown -R "$owner" "${root%/}$d"
done
# Its settings are read, never written, by Asterisk: root owns them and the asterisk group reads them. Not
# recursive, so a reinstall leaves the files `ivr asterisk config` wrote (passwords: root:asterisk 0640) alone.
chown "0:${owner#*:}" "$etc"
chmod 0750 "$etc"
echo "install-asterisk: done ($("${root%/}$prefix/sbin/asterisk" -V 2>/dev/null || echo 'asterisk installed'))"
echo "install-asterisk: now write its configuration with: ivr asterisk config --out /etc/asterisk"
echo "install-asterisk: then start it, now and at boot: systemctl enable --now asterisk"
