package population

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// organisationNames are the kinds of establishments; the city completes
// the name.
var organisationNames = []string{
	"Centre hospitalier", "Clinique Saint-Joseph", "Hôpital privé",
	"Centre de santé", "Maison de santé pluriprofessionnelle", "CHU",
}

func (g *Generator) organisation(i int) Resource {
	r := g.rng(streamOrganisation, i)
	place := pick(r, cities)
	return encode("Organization", organisationID(i), object{
		"active": true,
		"identifier": []any{object{
			"use": "official", "system": SystemFINESS, "value": finess(place.Department, i),
		}},
		"type": []any{codeable(coding{"http://terminology.hl7.org/CodeSystem/organization-type", "prov", "Healthcare Provider"})},
		"name": fmt.Sprintf("%s de %s", pick(r, organisationNames), place.Name),
		"telecom": []any{
			object{"system": "phone", "value": phone(r, "0"+string(rune('1'+r.IntN(5)))), "use": "work"},
		},
		"address": []any{address(r, place, "work")},
	})
}

// practitionerOrganisation is the organisation practitioner i works at.
func (g *Generator) practitionerOrganisation(i int) int { return (i-1)%g.organisations + 1 }

// practitionerSpecialty is the specialty of practitioner i.
func practitionerSpecialty(i int) coding { return specialties[(i-1)%len(specialties)] }

func (g *Generator) practitioner(i int) Resource {
	r := g.rng(streamPractitioner, i)
	female := r.IntN(2) == 0
	given := pick(r, maleGivenNames)
	gender := "male"
	if female {
		given, gender = pick(r, femaleGivenNames), "female"
	}
	family := familyName(r)
	return encode("Practitioner", practitionerID(i), object{
		"active": true,
		"identifier": []any{object{
			"use": "official", "system": SystemRPPS, "value": rpps(i),
		}},
		"name": []any{object{
			"use": "official", "family": family, "given": []any{given}, "prefix": []any{"Dr"},
			"text": "Dr " + given + " " + family,
		}},
		"gender": gender,
		"telecom": []any{object{
			"system": "email", "use": "work",
			"value": emailLocal(given) + "." + emailLocal(family) + "@sante.example.fr",
		}},
	})
}

func (g *Generator) practitionerRole(i int) Resource {
	return encode("PractitionerRole", roleID(i), object{
		"active":       true,
		"practitioner": ref("Practitioner", practitionerID(i)),
		"organization": ref("Organization", organisationID(g.practitionerOrganisation(i))),
		"code":         []any{codeable(coding{"https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante", "10", "Médecin"})},
		"specialty":    []any{codeable(practitionerSpecialty(i))},
	})
}

// familyName draws a family name, half of the time among the most common.
func familyName(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return pick(r, commonFamilyNames)
	}
	return pick(r, otherFamilyNames)
}

func address(r *rand.Rand, place city, use string) object {
	return object{
		"use":        use,
		"type":       "physical",
		"line":       []any{fmt.Sprintf("%d %s", 1+r.IntN(180), pick(r, streetNames))},
		"city":       place.Name,
		"postalCode": place.PostalCode,
		"country":    "FR",
	}
}

// phone returns a French number in international format with the given
// two-digit prefix (06 and 07 are mobiles): +33 6 12 34 56 78.
func phone(r *rand.Rand, prefix string) string {
	return fmt.Sprintf("+33 %c %02d %02d %02d %02d", prefix[1], r.IntN(100), r.IntN(100), r.IntN(100), r.IntN(100))
}

// emailLocal turns a name into an e-mail local part: lower case, accents
// and spaces removed.
func emailLocal(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteRune(c)
		case strings.ContainsRune("àâä", c):
			b.WriteByte('a')
		case strings.ContainsRune("éèêë", c):
			b.WriteByte('e')
		case strings.ContainsRune("îï", c):
			b.WriteByte('i')
		case strings.ContainsRune("ôö", c):
			b.WriteByte('o')
		case strings.ContainsRune("ùûü", c):
			b.WriteByte('u')
		case c == 'ç':
			b.WriteByte('c')
		case c == 'á':
			b.WriteByte('a')
		case c == '-':
			b.WriteByte('-')
		}
	}
	return b.String()
}
