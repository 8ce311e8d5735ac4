#!/usr/bin/env bash
# Runs the Dockerfile's stages as plain commands, for a machine without a container engine, so that
# the recipe is tested wherever the tests run:
#   bash scripts/run-container-recipe.sh [FOLDER]
# Each stage's filesystem is a folder FOLDER/<stage> (FOLDER defaults to a new temporary folder),
# holding only what the stage's instructions put there: the base image's own files are those of this
# machine (its node and npm). WORKDIR makes and enters a folder in it; COPY copies from the build
# context (less .dockerignore's entries) or, with --from, from an earlier stage's folder; RUN runs its
# command with sh in the WORKDIR, with the stage's ENV (paths in PATH taken inside the stage's
# folder) and without its --mount options (npm then uses this machine's cache, read before the
# registry). USER, ENTRYPOINT and CMD are recorded and printed. Any other instruction stops the
# script with an error, so that a recipe it cannot follow fails here rather than passing untested.
# Prints, last, `runtime: <folder of the last stage>` and that stage's user and command.
set -euo pipefail
context="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/siirto-container-XXXXXX")}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# Like an image's root, traversable by the unprivileged user the image runs as.
chmod 755 "$out"
# Offline first: the packages a build needs are usually in this machine's cache already.
export npm_config_prefer_offline=true

fail() {
  echo "run-container-recipe: $*" >&2
  exit 1
}

# The instructions, one a line: continuation lines joined, comments and blank lines dropped.
instructions() {
  sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$context/Dockerfile" |
    sed -e ':join' -e '/\\$/{N;s/\\\n[[:space:]]*/ /;b join' -e '}'
}

# COPY . <dest> from the build context, leaving out what .dockerignore names (top-level entries).
copy_context() {
  local dest=$1 excludes=()
  if [ -f "$context/.dockerignore" ]; then
    while read -r entry; do
      case "$entry" in '' | '#'*) continue ;; esac
      excludes+=("--exclude=./$entry")
    done <"$context/.dockerignore"
  fi
  tar -C "$context" "${excludes[@]}" -cf - . | tar -C "$dest" -xf -
}

declare -A stage_root=()
root=''
workdir=/
stage=''
user='root'
entrypoint=''
cmd=''
stage_env=()

# A value of the stage's PATH as this machine's: container paths inside the stage's folder, and
# $PATH as this machine's own.
stage_path() {
  local mapped='' entry
  IFS=: read -ra entries <<<"$1"
  for entry in "${entries[@]}"; do
    case "$entry" in '$PATH') entry=$PATH ;; /*) entry="$root$entry" ;; esac
    mapped+="${mapped:+:}$entry"
  done
  echo "$mapped"
}

run_in_stage() {
  local command=$1 path_value=$PATH pair
  local -a env_args=()
  for pair in "${stage_env[@]}"; do
    if [ "${pair%%=*}" = PATH ]; then path_value=$(stage_path "${pair#*=}"); else env_args+=("$pair"); fi
  done
  # Standard input is the instruction list: a command must not read it.
  (cd "$root$workdir" && env "${env_args[@]}" PATH="$path_value" sh -c "$command") </dev/null
}

while read -r keyword rest; do
  case "${keyword^^}" in
    # Only FROM uses ARGs, and the base image is this machine.
    ARG) ;;
    FROM)
      # FROM <image> AS <name>: a new, empty stage folder; the image is this machine.
      read -r _image as name <<<"$rest"
      [ "${as^^}" = AS ] && [ -n "$name" ] || fail "FROM without 'AS <name>': $rest"
      stage=$name
      root="$out/$stage"
      rm -rf "$root"
      mkdir -p "$root"
      stage_root[$stage]=$root
      workdir=/
      user=root
      stage_env=()
      echo "::: stage $stage"
      ;;
    WORKDIR)
      workdir=$rest
      mkdir -p "$root$workdir"
      ;;
    ENV)
      [[ "$rest" == *=* ]] || fail "ENV takes NAME=VALUE: $rest"
      stage_env+=("$rest")
      ;;
    COPY)
      read -ra words <<<"$rest"
      from=''
      if [[ "${words[0]}" == --from=* ]]; then
        from=${words[0]#--from=}
        words=("${words[@]:1}")
      fi
      dest=${words[-1]}
      [[ "$dest" == /* ]] || dest="$workdir/$dest"
      mkdir -p "$root$dest"
      for source in "${words[@]:0:${#words[@]}-1}"; do
        if [ -n "$from" ]; then
          [ -n "${stage_root[$from]:-}" ] || fail "COPY --from=$from: no such earlier stage"
          # Globs as Docker expands them, within the other stage.
          matches=("${stage_root[$from]}"$source)
          [ -e "${matches[0]}" ] || fail "COPY --from=$from $source: nothing matches"
          cp -a "${matches[@]}" "$root$dest/"
        elif [ "$source" = . ]; then
          copy_context "$root$dest"
        else
          cp -a "$context/$source" "$root$dest/"
        fi
      done
      ;;
    RUN)
      command=$rest
      while [[ "$command" == --mount=* ]]; do command=${command#* }; done
      echo "::: RUN $command"
      run_in_stage "$command" || fail "RUN failed in stage $stage: $command"
      ;;
    USER) user=$rest ;;
    ENTRYPOINT) entrypoint=$rest ;;
    CMD) cmd=$rest ;;
    *) fail "the Dockerfile uses $keyword, which this script does not follow: extend it" ;;
  esac
done < <(instructions)

[ -n "$stage" ] || fail "the Dockerfile has no stage"
echo "runtime: $root"
echo "user: $user"
echo "workdir: $workdir"
echo "entrypoint: $entrypoint"
echo "cmd: $cmd"
for pair in "${stage_env[@]}"; do
  if [ "${pair%%=*}" = PATH ]; then echo "env: PATH=$(stage_path "${pair#*=}")"; else echo "env: $pair"; fi
done
