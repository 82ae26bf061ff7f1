#!/bin/sh
# `weft` inside the image (kubectl exec … weft status): the CLI on the image's node.
exec /usr/bin/node /opt/weft/dist/weft.cjs "$@"
