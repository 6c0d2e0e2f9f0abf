// The real node's sandbox (pause) program: no dependencies (.ci/kube-build).
module xtask.local/ci/kube/pause

go 1.23.0
