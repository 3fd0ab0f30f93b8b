package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Target is a Target in an S3-compatible bucket, named
// s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX] (add ?tls=false for a
// plain-HTTP server, e.g. one on loopback). An S3 PUT is atomic and
// durable when it returns, so Sync has nothing to do.
type S3Target struct {
	c              *minio.Client
	host           string
	bucket, prefix string
}

var _ Target = (*S3Target)(nil)

// s3PartSize bounds what minio-go buffers for an upload: objects are at
// most a chunk plus age's overhead, so one part; unset, it would
// allocate 500 MiB for an unknown size.
const s3PartSize = 16 << 20

func openS3(spec string) (*S3Target, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("S3 target: %w", err)
	}
	bucket, prefix, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if u.Host == "" || bucket == "" {
		return nil, errors.New("S3 target: want s3://ACCESS:SECRET@HOST[:PORT]/BUCKET[/PREFIX]")
	}
	secret, _ := u.User.Password()
	if u.User.Username() == "" || secret == "" {
		return nil, errors.New("S3 target: the access key and secret go in the URL: s3://ACCESS:SECRET@HOST/BUCKET")
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(u.User.Username(), secret, ""),
		Secure: u.Query().Get("tls") != "false", Region: u.Query().Get("region")})
	if err != nil {
		return nil, fmt.Errorf("S3 target: %w", err)
	}
	if prefix != "" {
		prefix += "/"
	}
	return &S3Target{c: c, host: u.Host, bucket: bucket, prefix: prefix}, nil
}

// String names the target without its secret.
func (s *S3Target) String() string {
	return "s3://" + s.host + "/" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

func (s *S3Target) Put(ctx context.Context, name string, data []byte) error {
	_, err := s.c.PutObject(ctx, s.bucket, s.prefix+name, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{PartSize: s3PartSize, ContentType: "application/octet-stream"})
	return err
}

func (s *S3Target) Sync(ctx context.Context) error { return nil }

func (s *S3Target) Get(ctx context.Context, name string) ([]byte, error) {
	o, err := s.c.GetObject(ctx, s.bucket, s.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(err)
	}
	defer func() { _ = o.Close() }() // read only: the body was read whole or failed
	data, err := io.ReadAll(o)
	return data, s3Error(err)
}

func (s *S3Target) Has(ctx context.Context, name string) (bool, error) {
	_, err := s.c.StatObject(ctx, s.bucket, s.prefix+name, minio.StatObjectOptions{})
	if err = s3Error(err); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (s *S3Target) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		names = append(names, strings.TrimPrefix(o.Key, s.prefix))
	}
	sort.Strings(names)
	return names, nil
}

func (s *S3Target) ListSizes(ctx context.Context, prefix string) (map[string]int64, error) {
	sizes := map[string]int64{}
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		sizes[strings.TrimPrefix(o.Key, s.prefix)] = o.Size
	}
	return sizes, nil
}

func (s *S3Target) Delete(ctx context.Context, name string) error {
	return s.c.RemoveObject(ctx, s.bucket, s.prefix+name, minio.RemoveObjectOptions{})
}

// s3Error turns S3's "no such key" into fs.ErrNotExist.
func s3Error(err error) error {
	if err == nil {
		return nil
	}
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}
