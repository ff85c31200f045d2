module github.com/eventide-ci/eventide

go 1.26.0

require (
	github.com/cenkalti/backoff/v5 v5.0.3
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.50.0
)

require github.com/fsnotify/fsnotify v1.10.1
