// Command go-oracle answers, with Go's own crypto/x509 and crypto/tls, the two questions
// trustkeep's differential tests ask: does this chain verify (x509.Certificate.Verify with
// the given intermediates, roots, time and ExtKeyUsageAny, or ExtKeyUsageClientAuth, or Go's
// default serverAuth as istiod asks), and does this key match this
// certificate (tls.X509KeyPair). It prints "ok" (exit 0) or "error: <Go's message>" (exit 1).
// Test-only; built by tests/x509.rs with the Debian golang-go toolchain.
//
//	go-oracle verify ROOTS.pem INTERMEDIATES.pem LEAF.pem UNIX_TIME [client|default]
//	go-oracle keypair CERT.pem KEY.pem
//	go-oracle parse CERT.pem
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
	case "parse":
		data, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err)
		}
		block, _ := pem.Decode(data)
		if block == nil {
			fail(fmt.Errorf("no PEM block"))
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			fail(err)
		}
	case "limbo":
		limbo(os.Args[2])
		return
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

// limbo prints, for every x509-limbo test case of the file, one line "<id>\t<ok|error>\t<Go's
// error>": the case's peer certificate verified as Go does, with its trusted certificates as
// roots, its untrusted intermediates, its validation time (now when null) and its extended key
// usages (Go's default, serverAuth, when none). Host names are not checked: trustkeep
// validates paths, not peer names, so both answer the same question.
func limbo(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var suite struct {
		Testcases []struct {
			ID                     string   `json:"id"`
			TrustedCerts           []string `json:"trusted_certs"`
			UntrustedIntermediates []string `json:"untrusted_intermediates"`
			PeerCertificate        string   `json:"peer_certificate"`
			ValidationTime         *string  `json:"validation_time"`
			ExtendedKeyUsage       []string `json:"extended_key_usage"`
		} `json:"testcases"`
	}
	if err := json.Unmarshal(data, &suite); err != nil {
		fail(err)
	}
	parse := func(p string) (*x509.Certificate, error) {
		block, _ := pem.Decode([]byte(p))
		if block == nil {
			return nil, fmt.Errorf("no PEM block")
		}
		return x509.ParseCertificate(block.Bytes)
	}
	for _, tc := range suite.Testcases {
		verdict := func() error {
			roots, inter := x509.NewCertPool(), x509.NewCertPool()
			for _, p := range tc.TrustedCerts {
				c, err := parse(p)
				if err != nil {
					return err
				}
				roots.AddCert(c)
			}
			for _, p := range tc.UntrustedIntermediates {
				c, err := parse(p)
				if err != nil {
					return err
				}
				inter.AddCert(c)
			}
			leaf, err := parse(tc.PeerCertificate)
			if err != nil {
				return err
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: inter}
			if tc.ValidationTime != nil {
				t, err := time.Parse(time.RFC3339, *tc.ValidationTime)
				if err != nil {
					return err
				}
				opts.CurrentTime = t
			}
			for _, u := range tc.ExtendedKeyUsage {
				switch u {
				case "serverAuth":
					opts.KeyUsages = append(opts.KeyUsages, x509.ExtKeyUsageServerAuth)
				case "clientAuth":
					opts.KeyUsages = append(opts.KeyUsages, x509.ExtKeyUsageClientAuth)
				default:
					opts.KeyUsages = append(opts.KeyUsages, x509.ExtKeyUsageAny)
				}
			}
			_, err = leaf.Verify(opts)
			return err
		}()
		if verdict != nil {
			fmt.Printf("%s\terror\t%q\n", tc.ID, verdict.Error())
		} else {
			fmt.Printf("%s\tok\t\n", tc.ID)
		}
	}
}
