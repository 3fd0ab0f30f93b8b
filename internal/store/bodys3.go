package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Blobs keeps shared bodies in an S3-compatible bucket, one object per
// body named PREFIX/bodies/SHA256 (bodystore.go). An S3 PUT is durable
// when it returns: the object is complete before the row naming it
// commits. The URL has the backup's S3 target form,
// s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false][&region=R].
type s3Blobs struct {
	c         *minio.Client
	host      string
	bucket    string
	keyPrefix string // "" or "PREFIX/", then "bodies/"
}

var _ blobStore = (*s3Blobs)(nil)

// s3BodyPartSize bounds what minio-go buffers per upload part: a body
// larger than this goes up in parts (unset, minio-go would allocate
// hundreds of MiB for an upload).
const s3BodyPartSize = 16 << 20

type s3Spec struct {
	host, bucket, prefix, access, secret, region string
	tls                                          bool
}

func parseS3URL(v string) (s3Spec, error) {
	const want = "want s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX][?tls=false]"
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "s3" {
		return s3Spec{}, errors.New("body store: not an s3:// URL: " + want)
	}
	bucket, prefix, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	secret, _ := u.User.Password()
	switch {
	case u.Host == "" || bucket == "":
		return s3Spec{}, errors.New("body store: no host or bucket: " + want)
	case u.User.Username() == "" || secret == "":
		return s3Spec{}, errors.New("body store: the access key and secret go in the URL: " + want)
	}
	if prefix != "" {
		prefix += "/"
	}
	return s3Spec{host: u.Host, bucket: bucket, prefix: prefix + "bodies/", access: u.User.Username(), secret: secret,
		region: u.Query().Get("region"), tls: u.Query().Get("tls") != "false"}, nil
}

func openS3Blobs(v string) (*s3Blobs, error) {
	sp, err := parseS3URL(v)
	if err != nil {
		return nil, err
	}
	c, err := minio.New(sp.host, &minio.Options{Creds: credentials.NewStaticV4(sp.access, sp.secret, ""), Secure: sp.tls, Region: sp.region})
	if err != nil {
		return nil, fmt.Errorf("body store s3://%s/%s: %w", sp.host, sp.bucket, err)
	}
	return &s3Blobs{c: c, host: sp.host, bucket: sp.bucket, keyPrefix: sp.prefix}, nil
}

// String names the bucket without the secret.
func (b *s3Blobs) String() string {
	return "s3://" + b.host + "/" + b.bucket + "/" + strings.TrimSuffix(b.keyPrefix, "bodies/")
}

func (b *s3Blobs) prefix() string { return "s3:" }

func (b *s3Blobs) put(ctx context.Context, key string, r io.Reader, size int64) error {
	if st, err := b.c.StatObject(ctx, b.bucket, b.keyPrefix+key, minio.StatObjectOptions{}); err == nil && st.Size == size {
		return nil // the same bytes, uploaded whole before
	}
	_, err := b.c.PutObject(ctx, b.bucket, b.keyPrefix+key, r, size,
		minio.PutObjectOptions{PartSize: s3BodyPartSize, ContentType: "message/rfc822"})
	return err
}

// open returns the object, which reads in order over one GET and, after
// a Seek or for a ReadAt, over a ranged GET from that offset.
func (b *s3Blobs) open(ctx context.Context, key string, size int64) (BodyReader, error) {
	o, err := b.c.GetObject(ctx, b.bucket, b.keyPrefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	// GetObject is lazy: Stat makes a missing object an error here rather
	// than at the first Read.
	if _, err := o.Stat(); err != nil {
		return nil, errors.Join(fmt.Errorf("body object %s: %w", key, err), o.Close())
	}
	return o, nil
}

func (b *s3Blobs) remove(ctx context.Context, _ *sql.Tx, key string) error {
	return b.c.RemoveObject(ctx, b.bucket, b.keyPrefix+key, minio.RemoveObjectOptions{})
}

func (b *s3Blobs) keys(ctx context.Context, fn func(string)) error {
	for o := range b.c.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.keyPrefix, Recursive: true}) {
		if o.Err != nil {
			return o.Err
		}
		fn(strings.TrimPrefix(o.Key, b.keyPrefix))
	}
	return nil
}
