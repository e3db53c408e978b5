package imagepush

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/podboot/podboot/pkg/api"
	"github.com/podboot/podboot/pkg/artifact"
)

// expectContinueTimeout is how long the client waits for the server's go-ahead before
// sending the body anyway (a proxy in between may not pass 100-continue on).
const expectContinueTimeout = 10 * time.Second

// Request is one push.
type Request struct {
	Name, Version string
	Kind          artifact.Kind
	// Signature is the detached CMS signature, DER.
	Signature []byte
	// Content yields exactly Size bytes.
	Content io.Reader
	Size    int64
	// ImageSize, when positive, declares the size the signed image has (HeaderImageSize).
	ImageSize int64
	// SHA256, when set, declares the content's digest (HeaderContentSHA256).
	SHA256 []byte
}

// Push streams req to the server c talks to. A refusal is an *api.Error whose message
// names the reason; a refused signature or version costs no upload, because the
// request asks for 100-continue.
func Push(ctx context.Context, c *api.Client, req Request) (Result, error) {
	body := req.Content
	if req.Size == 0 {
		body = http.NoBody
	}
	q := url.Values{"kind": {string(req.Kind)}}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPut, c.Base()+Path(req.Name, req.Version)+"?"+q.Encode(), body)
	if err != nil {
		return Result{}, fmt.Errorf("push %s@%s: %w", req.Name, req.Version, err)
	}
	hr.ContentLength = req.Size
	hr.Header.Set("Content-Type", "application/octet-stream")
	hr.Header.Set("Authorization", "Bearer "+c.Token())
	hr.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(req.Signature))
	if req.Size > 0 {
		hr.Header.Set("Expect", "100-continue")
	}
	if req.ImageSize > 0 {
		hr.Header.Set(HeaderImageSize, strconv.FormatInt(req.ImageSize, 10))
	}
	if req.SHA256 != nil {
		hr.Header.Set(HeaderContentSHA256, hex.EncodeToString(req.SHA256))
	}
	resp, err := pushClient(c).Do(hr)
	if err != nil {
		return Result{}, fmt.Errorf("push %s@%s to %s: %w", req.Name, req.Version, c.Base(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, fmt.Errorf("push %s@%s: read answer: %w", req.Name, req.Version, err)
	}
	if resp.StatusCode >= 300 {
		var eb ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return Result{}, &api.Error{Status: resp.StatusCode, Message: fmt.Sprintf("push %s@%s refused: %s", req.Name, req.Version, eb.Error)}
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		return Result{}, fmt.Errorf("push %s@%s: decode answer: %w", req.Name, req.Version, err)
	}
	return res, nil
}

// pushClient is c's HTTP client with a transport that waits for 100-continue.
func pushClient(c *api.Client) *http.Client {
	hc := c.HTTPClient()
	tr, ok := hc.Transport.(*http.Transport)
	if !ok {
		return hc
	}
	tr = tr.Clone()
	tr.ExpectContinueTimeout = expectContinueTimeout
	return &http.Client{Transport: tr}
}

// ParseRef splits NAME:VERSION (or NAME@VERSION); the version is required, since
// pushed versions are immutable.
func ParseRef(ref string) (name, version string, err error) {
	i := strings.IndexAny(ref, ":@")
	if i < 0 {
		return "", "", fmt.Errorf("%q: give NAME:VERSION (versions are immutable, so a push names one)", ref)
	}
	name, version = ref[:i], ref[i+1:]
	if err := artifact.ValidName("image name", name); err != nil {
		return "", "", err
	}
	if err := artifact.ValidName("image version", version); err != nil {
		return "", "", err
	}
	return name, version, nil
}
