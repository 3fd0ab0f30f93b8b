package store

import (
	"context"
	"testing"
)

func TestImageSenders(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.AddDomain(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	a, err := s.AddAccount(ctx, "a@example.net", "password-of-a-1", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AddAccount(ctx, "b@example.net", "password-of-b-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ImagesAllowedFrom(ctx, a.ID, "News@Shop.example"); err != nil || ok {
		t.Fatalf("before: %v %v", ok, err)
	}
	for range 2 {
		if err := s.AllowImagesFrom(ctx, a.ID, "News@Shop.example"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.ImagesAllowedFrom(ctx, a.ID, "news@shop.EXAMPLE "); err != nil || !ok {
		t.Errorf("after: %v %v", ok, err)
	}
	if ok, _ := s.ImagesAllowedFrom(ctx, b.ID, "news@shop.example"); ok {
		t.Error("another account sees the preference")
	}
	if err := s.AllowImagesFrom(ctx, a.ID, " "); err == nil {
		t.Error("an empty address was kept")
	}
	if err := s.ForgetImagesFrom(ctx, a.ID, "NEWS@shop.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.ImagesAllowedFrom(ctx, a.ID, "news@shop.example"); ok {
		t.Error("still allowed after forgetting")
	}
}
