package mongotest_test

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/telehub/telehub/store/mongo/mongotest"
)

// Start gives a loopback MongoDB URI on which documents can be stored and found.
func TestStart(t *testing.T) {
	ctx := context.Background()
	uri := mongotest.Start(t)
	if !strings.HasPrefix(uri, "mongodb://127.0.0.1:") || !strings.HasSuffix(uri, "/") {
		t.Fatalf("URI = %q, want mongodb://127.0.0.1:PORT/", uri)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	coll := client.Database("db").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "k"}, {Key: "v", Value: 42}}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var got struct {
		V int `bson:"v"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "k"}}).Decode(&got); err != nil || got.V != 42 {
		t.Fatalf("find = %+v, %v; want v 42", got, err)
	}
}
