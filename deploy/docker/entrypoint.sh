#!/bin/sh
# Container entrypoint: check every baked-in model's weights against the sha256 in its card,
# then run archcolor with the container's arguments. `archcolor models` exits 3 when a weights
# file is missing, damaged or replaced, a card is broken or the default model is absent.
set -eu

status=0
report=$(archcolor models 2>&1) || status=$?
case "$status" in
    0) ;;
    3)
        printf '%s\n' "$report" >&2
        printf '%s\n' "archcolor-entrypoint: the model weights in this image do not match their" \
            "model cards (sha256, see above): the image is damaged or was built from a bad" \
            "models/ folder; rebuild it (or point ARCHCOLOR_MODELS_DIR at verified models)" >&2
        exit 78
        ;;
    *)
        printf '%s\n' "$report" >&2
        printf '%s\n' "archcolor-entrypoint: checking the models failed (exit $status, see above)" >&2
        exit "$status"
        ;;
esac

exec archcolor "$@"
