package deps

import (
	_ "github.com/FerretDB/FerretDB/ferretdb"
	_ "github.com/google/fhir/go/fhirversion"
	_ "github.com/google/fhir/go/jsonformat"
	_ "github.com/labstack/echo/v4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.mongodb.org/mongo-driver/v2/mongo"
	_ "modernc.org/sqlite"
)
