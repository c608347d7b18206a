module nexus.dev/gitops/argocd

go 1.26

require (
	github.com/gobwas/glob v0.2.3
	github.com/google/cel-go v0.26.1
	github.com/yuin/gopher-lua v1.1.1
	layeh.com/gopher-json v0.0.0-20190114024228-97fed8db8427
	sigs.k8s.io/yaml v1.6.0
)
