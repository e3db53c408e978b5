package imagesign

import (
	"bytes"
	"encoding/pem"
)

// DecodeSignature accepts a signature file as written by podboot or openssl:
// DER as is, or a PEM "CMS"/"PKCS7" block (openssl -outform PEM), which it
// unwraps. Anything else is returned unchanged for Verify to refuse.
func DecodeSignature(data []byte) []byte {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN ")) {
		return data
	}
	block, _ := pem.Decode(data)
	if block == nil || (block.Type != "CMS" && block.Type != "PKCS7") {
		return data
	}
	return block.Bytes
}
