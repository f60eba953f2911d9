// Command go-oracle answers, with Go's own crypto/x509 and crypto/tls, the questions
// trustkeep's tests ask of Go, the runtime of Gloo Mesh and Istio: does this chain verify
// (x509.Certificate.Verify with the given intermediates, roots, time and ExtKeyUsageAny, or
// ExtKeyUsageClientAuth, or Go's default serverAuth as istiod asks), does Go parse this
// certificate (parse), what Go says of every x509-limbo case (limbo), does this key match this certificate (tls.X509KeyPair), does an
// agent complete a mutual TLS handshake with the relay server (tls), does istiod accept a
// plugged-in cacerts (istiod), and does a workload certificate issued by one cluster's Istio
// intermediate verify against another cluster's root (federation). It prints "ok" (exit 0) or
// "error: <Go's message>" (exit 1). Test-only; built by tests/x509.rs with the Debian
// golang-go toolchain.
//
//	go-oracle verify ROOTS.pem INTERMEDIATES.pem LEAF.pem UNIX_TIME [client|default]
//	go-oracle keypair CERT.pem KEY.pem
//	go-oracle parse CERT.pem
//	go-oracle tls SERVER_CRT SERVER_KEY SERVER_CA AGENT_CRT AGENT_KEY AGENT_CA SERVER_NAME
//	go-oracle istiod CA_CERT CA_KEY ROOT_CERT CERT_CHAIN [CA_CRL]
//	go-oracle federation CA_CERT CA_KEY CERT_CHAIN OTHER_ROOT_CERT
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
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

func pool(path string) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs(path) {
		p.AddCert(c)
	}
	return p
}

func pair(cert, key string) tls.Certificate {
	p, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		fail(err)
	}
	return p
}

// handshake runs the relay: a server with the management server's secret, requiring and
// verifying a client certificate against its ca.crt (as gloo-mesh-mgmt-server does), and an
// agent with its secret, verifying the server against its ca.crt for SERVER_NAME.
func handshake(a []string) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair(a[0], a[1])},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool(a[2]),
	})
	if err != nil {
		fail(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			done <- fmt.Errorf("relay server: %v", err)
			return
		}
		buf := make([]byte, 1)
		if _, err := tc.Read(buf); err != nil {
			done <- fmt.Errorf("relay server: %v", err)
			return
		}
		done <- nil
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{pair(a[3], a[4])},
		RootCAs:      pool(a[5]),
		ServerName:   a[6],
	})
	if err != nil {
		fail(fmt.Errorf("agent: %v", err))
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		fail(fmt.Errorf("agent: %v", err))
	}
	if err := <-done; err != nil {
		fail(err)
	}
}

// istiod is istiod's check of plugged-in certificates (keycertbundle Verify): the CA
// certificate verifies with only Roots and Intermediates set (Go's defaults: serverAuth, now),
// then the key matches it; with a ca-crl.pem, every PEM block of it parses as a CRL and every
// certificate of cert-chain.pem signed at least one of them (RevocationList.CheckSignatureFrom).
func istiod(a []string) {
	ca := certs(a[0])[0]
	if _, err := ca.Verify(x509.VerifyOptions{Roots: pool(a[2]), Intermediates: pool(a[3])}); err != nil {
		fail(err)
	}
	pair(a[0], a[1])
	if len(a) > 4 {
		crl, err := os.ReadFile(a[4])
		if err != nil {
			fail(err)
		}
		if len(crl) > 0 {
			crlSigners(certs(a[3]), crl)
		}
	}
}

// crlSigners fails unless every certificate of chain signed one of the CRLs in crl.
func crlSigners(chain []*x509.Certificate, crl []byte) {
	var lists []*x509.RevocationList
	for rest := crl; ; {
		block, more := pem.Decode(rest)
		if block == nil {
			break
		}
		l, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			fail(fmt.Errorf("failed to parse CRL PEM: %w", err))
		}
		lists = append(lists, l)
		rest = more
	}
	var missing []string
	for _, c := range chain {
		signed := false
		for _, l := range lists {
			if l.CheckSignatureFrom(c) == nil {
				signed = true
				break
			}
		}
		if !signed {
			missing = append(missing, c.Subject.String())
		}
	}
	if len(missing) > 0 {
		fail(fmt.Errorf("missing CRL signed by certificates: %v", missing))
	}
}

// federation issues a workload certificate as istiod does (SPIFFE URI, serverAuth and
// clientAuth) under one cluster's intermediate, and verifies it against another cluster's
// root with that cluster's chain as intermediates.
func federation(a []string) {
	ca := certs(a[0])[0]
	signer := pair(a[0], a[1])
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fail(err)
	}
	spiffe, _ := url.Parse("spiffe://cluster.local/ns/default/sa/workload")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{spiffe},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, signer.PrivateKey)
	if err != nil {
		fail(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		fail(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool(a[3]), Intermediates: pool(a[2])}); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Printf("error: %v\n", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-oracle verify|keypair|tls|istiod|federation ...")
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
	case "tls":
		handshake(os.Args[2:9])
	case "istiod":
		istiod(os.Args[2:])
	case "federation":
		federation(os.Args[2:6])
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
