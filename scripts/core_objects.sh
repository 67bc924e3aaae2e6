# Compiles the framework-free CPU core by hand as the library build does
# (build_tools/cpu_levels.py): the shared sources once with the baseline's
# flags, the passes once per instruction-set level in that level's namespace.
# Sourced by the scripts that build the core without TensorFlow:
#
#   source scripts/core_objects.sh
#   compile_core OUT_DIR CXX FLAGS...   # sets CORE_OBJECTS, in link order
#
# PYTHON runs build_tools (any Python 3; no TensorFlow needed for that).
# CORE_MACHINE (uname -m of the target, default this machine's) picks the levels
# for a cross compiler. CORE_ONLY_LEVEL (a level's name) compiles only that
# level's passes with FLAGS and the others' with the array CORE_OTHER_LEVEL_FLAGS:
# for a sanitizer build that runs one level and links the rest to complete the
# dispatch table.
compile_core() {
  local out=$1 cxx=$2
  shift 2
  local python=${PYTHON:-python3} name namespace flags src obj pids=()
  mkdir -p "$out"
  CORE_OBJECTS=()
  local levels
  levels=$("$python" -m build_tools.cpu_levels levels ${CORE_MACHINE:-})
  local baseline_flags
  baseline_flags=$(echo "$levels" | awk '$1 == "baseline" { $1 = ""; $2 = ""; print }')
  for src in $("$python" -m build_tools.cpu_levels sources); do
    obj=$out/$(basename "$src" .cc).o
    # shellcheck disable=SC2086  # the level's flags are words
    "$cxx" "$@" $baseline_flags -c "$src" -o "$obj" & pids+=($!)
    CORE_OBJECTS+=("$obj")
  done
  while read -r name namespace flags; do
    local level_args=("$@")
    if [ -n "${CORE_ONLY_LEVEL:-}" ] && [ "$name" != "$CORE_ONLY_LEVEL" ]; then
      level_args=("${CORE_OTHER_LEVEL_FLAGS[@]}")
    fi
    for src in $("$python" -m build_tools.cpu_levels level-sources); do
      obj=$out/$(basename "$src" .cc).$name.o
      # shellcheck disable=SC2086
      "$cxx" "${level_args[@]}" $flags -DTF_CONV1D_LEVEL_NAMESPACE="$namespace" -c "$src" -o "$obj" & pids+=($!)
      CORE_OBJECTS+=("$obj")
    done
  done <<< "$levels"
  local pid
  for pid in "${pids[@]}"; do wait "$pid"; done
}
