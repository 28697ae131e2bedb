# Sourced by the scripts here. Takes the password out of DATABASE_URL (user:password@ or a
# password= parameter, which wins as in libpq) into PGPASSWORD, and sets PGURL to the URL
# without it: a command line is visible to every user of the machine (ps), a process's
# environment only to its own user. A URL with another secret parameter (sslpassword) is refused:
# libpq has no environment variable for it.
: "${DATABASE_URL:?set DATABASE_URL}"

# Percent-decoding as libpq does it ("+" stays "+"); a backslash stays itself.
pg_env_decode() {
  local s="${1//\\/\\\\}"
  printf -v "$2" '%b' "${s//%/\\x}"
}

pg_env_split() {
  local url="$1" scheme rest authority tail userinfo="" at="" path query piece name pieces=() kept=()
  scheme="${url%%://*}://"
  rest="${url#*://}"
  # The user information ends at the authority's last "@" (a raw "@" in the password); with
  # none there, at the first "@" before the first "/", as libpq reads it (a raw "?" or "#" in
  # the password, which would otherwise stay in the URL, on the command line).
  authority="${rest%%[/?#]*}"
  if [[ "$authority" == *@* ]]; then
    userinfo="${authority%@*}" at=1
  elif [[ "${rest%%/*}" == *@* ]]; then
    userinfo="${rest%%@*}" at=1
  fi
  if [ -n "$at" ]; then
    rest="${rest:$((${#userinfo} + 1))}"
    if [[ "$userinfo" == *:* ]]; then
      pg_env_decode "${userinfo#*:}" PGPASSWORD
      export PGPASSWORD
      userinfo="${userinfo%%:*}"
    fi
  fi
  authority="${rest%%[/?]*}"
  tail="${rest:${#authority}}"
  path="${tail%%\?*}"
  query=""
  [[ "$tail" != *\?* ]] || query="${tail#*\?}"
  local IFS='&'
  [ -z "$query" ] || read -ra pieces <<<"$query"
  for piece in "${pieces[@]+"${pieces[@]}"}"; do
    name="${piece%%=*}"
    case "$name" in
      password)
        pg_env_decode "${piece#*=}" PGPASSWORD
        export PGPASSWORD
        ;;
      *[Pp][Aa][Ss][Ss][Ww][Oo][Rr][Dd]*)
        echo "DATABASE_URL has $name, which could only be given on a command line (visible in ps): take it out of the URL (put it in a service file, PGSERVICEFILE)" >&2
        return 2
        ;;
      "") ;;
      *) kept+=("$piece") ;;
    esac
  done
  PGURL="$scheme${at:+$userinfo@}$authority$path"
  [ "${#kept[@]}" -eq 0 ] || PGURL="$PGURL?${kept[*]}"
}

pg_env_split "$DATABASE_URL" || exit 2
