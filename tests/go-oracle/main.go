// Command go-oracle answers, with Go's own crypto/x509 and crypto/tls, the two questions
// trustkeep's differential tests ask: does this chain verify (x509.Certificate.Verify with
// the given intermediates, roots, time and ExtKeyUsageAny, or ExtKeyUsageClientAuth, or Go's
// default serverAuth as istiod asks), and does this key match this
// certificate (tls.X509KeyPair). It prints "ok" (exit 0) or "error: <Go's message>" (exit 1).
// Test-only; built by tests/x509.rs with the Debian golang-go toolchain.
//
//	go-oracle verify ROOTS.pem INTERMEDIATES.pem LEAF.pem UNIX_TIME [client|default]
//	go-oracle keypair CERT.pem KEY.pem
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strconv"
	"time"
)

func certs(path string) []*x509.Certificate {
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			fail(err)
		}
		out = append(out, c)
	}
}

func fail(err error) {
	fmt.Printf("error: %v\n", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-oracle verify|keypair ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "verify":
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		for _, c := range certs(os.Args[2]) {
			roots.AddCert(c)
		}
		for _, c := range certs(os.Args[3]) {
			inter.AddCert(c)
		}
		leaf := certs(os.Args[4])[0]
		secs, err := strconv.ParseInt(os.Args[5], 10, 64)
		if err != nil {
			fail(err)
		}
		opts := x509.VerifyOptions{
			Roots:         roots,
			Intermediates: inter,
			CurrentTime:   time.Unix(secs, 0),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		}
		if len(os.Args) > 6 {
			switch os.Args[6] {
			case "client":
				opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			case "default":
				// istiod's plug-in check: only Roots and Intermediates, Go's default usage.
				opts.KeyUsages = nil
			}
		}
		_, err = leaf.Verify(opts)
		if err != nil {
			fail(err)
		}
	case "keypair":
		cert, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err)
		}
		key, err := os.ReadFile(os.Args[3])
		if err != nil {
			fail(err)
		}
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			fail(err)
		}
	default:
		os.Exit(2)
	}
	fmt.Println("ok")
}
