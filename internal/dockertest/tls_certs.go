package dockertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// MakeTLSCerts makes a certificate authority of its own and, signed by it, a server
// certificate for 127.0.0.1 and localhost (ca.pem, cert.pem, key.pem in serverDir) and
// a client certificate (the same three in clientDir, as DOCKER_CERT_PATH holds them).
// Two calls make two authorities that do not trust each other.
func MakeTLSCerts(serverDir, clientDir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls certs: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "scar test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("tls certs: CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("tls certs: CA: %w", err)
	}
	leaves := []struct {
		dir   string
		tmpl  *x509.Certificate
		usage x509.ExtKeyUsage
	}{
		{serverDir, &x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"localhost"}}, x509.ExtKeyUsageServerAuth},
		{clientDir, &x509.Certificate{Subject: pkix.Name{CommonName: "scar test client"}}, x509.ExtKeyUsageClientAuth},
	}
	for _, l := range leaves {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("tls certs: %w", err)
		}
		l.tmpl.SerialNumber, l.tmpl.NotBefore, l.tmpl.NotAfter = serial(), now.Add(-time.Hour), now.Add(24*time.Hour)
		l.tmpl.KeyUsage, l.tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{l.usage}
		der, err := x509.CreateCertificate(rand.Reader, l.tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("tls certs: %s: %w", l.tmpl.Subject.CommonName, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return fmt.Errorf("tls certs: %w", err)
		}
		if err := os.MkdirAll(l.dir, 0o700); err != nil {
			return fmt.Errorf("tls certs: %w", err)
		}
		for name, block := range map[string]*pem.Block{
			"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
			"cert.pem": {Type: "CERTIFICATE", Bytes: der},
			"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
		} {
			if err := os.WriteFile(filepath.Join(l.dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
				return fmt.Errorf("tls certs: %w", err)
			}
		}
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}
