module trustkeep/go-oracle

go 1.19
