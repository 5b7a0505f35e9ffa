# Sourced by setup.sh and setup-stock.sh: point apt at a private state and
# cache under DIR, reading one suite of the Debian mirror, so that fetching
# kernel packages never touches (or needs) the host's own apt configuration.
#
#   private_apt DIR MIRROR SUITE KEYRING    -> exports APT_CONFIG=DIR/apt.conf

private_apt() {
    local dir=$1 mirror=$2 suite=$3 keyring=$4
    mkdir -p "$dir"/{state/lists/partial,cache/archives/partial,sources.list.d,preferences.d,debs}
    : > "$dir/state/status"
    echo "deb [signed-by=$keyring] $mirror $suite main" > "$dir/sources.list"
    cat > "$dir/apt.conf" <<CONF
Dir::State "$dir/state";
Dir::State::status "$dir/state/status";
Dir::Cache "$dir/cache";
Dir::Etc::SourceList "$dir/sources.list";
Dir::Etc::SourceParts "$dir/sources.list.d";
Dir::Etc::PreferencesParts "$dir/preferences.d";
Dir::Etc::Preferences "$dir/preferences";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
CONF
    export APT_CONFIG=$dir/apt.conf
}
