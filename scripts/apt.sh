# SPDX-License-Identifier: MPL-2.0
# Sourced by the setup scripts: apt_install NAME PACKAGE... installs, as root or with sudo, the
# Debian packages that are not installed yet (NAME prefixes the message).

apt_install() {
    local name=$1
    shift
    local sudo_cmd=() missing=() p
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "$name: installing apt packages: ${missing[*]}"
        "${sudo_cmd[@]}" apt-get update -q
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}
