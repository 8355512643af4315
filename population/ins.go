package population

import (
	"fmt"
	"strconv"
)

// Identifier systems of French health identities.
const (
	// SystemINSNIR is the INS assigning authority for a NIR-based INS.
	SystemINSNIR = "urn:oid:1.2.250.1.213.1.4.8"
	// SystemRPPS identifies health professionals (RPPS numbers).
	SystemRPPS = "urn:oid:1.2.250.1.71.4.2.1"
	// SystemFINESS identifies health establishments (FINESS numbers).
	SystemFINESS = "urn:oid:1.2.250.1.71.4.2.2"
	// SystemIPP is the local patient identifier (IPP) of the generated
	// hospital group. It is a placeholder OID: a real deployment uses the
	// OID its establishment registered.
	SystemIPP = "urn:oid:1.2.250.1.999.1.1"
)

// INSKey returns the two-digit control key of a 13-character NIR:
// 97 − (number mod 97). A Corsican place of birth (department 2A or 2B at
// positions 6–7) counts as the number with 19 (2A) or 18 (2B) in its place,
// as the national rule prescribes.
func INSKey(nir string) (int, error) {
	if len(nir) != 13 {
		return 0, fmt.Errorf("population: INS key: %q is not 13 characters", nir)
	}
	digits := nir
	switch nir[5:7] {
	case "2A", "2a":
		digits = nir[:5] + "19" + nir[7:]
	case "2B", "2b":
		digits = nir[:5] + "18" + nir[7:]
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("population: INS key: %q is not a NIR: %w", nir, err)
	}
	return int(97 - n%97), nil
}

// nir builds a 13-character NIR: sex (1 male, 2 female), year and month of
// birth, department and commune of birth, and an order number.
func nir(sex int, year, month int, place city, order int) string {
	return fmt.Sprintf("%d%02d%02d%s%s%03d", sex, year%100, month, place.Department, place.Commune, order)
}

// withINSKey appends the control key to a 13-character NIR. The NIRs this
// package builds are always well formed, so an error is a bug.
func withINSKey(n string) string {
	key, err := INSKey(n)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%s%02d", n, key)
}

// luhnDigit returns the Luhn check digit of a string of digits, the key of
// RPPS and FINESS numbers.
func luhnDigit(digits string) byte {
	sum := 0
	double := true // the check digit will be appended on the right
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// LuhnValid reports whether a string of digits ends with a correct Luhn
// check digit.
func LuhnValid(digits string) bool {
	if len(digits) < 2 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return luhnDigit(digits[:len(digits)-1]) == digits[len(digits)-1]
}

// rpps returns the 11-digit RPPS number of practitioner i: "10", eight
// digits, and a Luhn key.
func rpps(i int) string {
	body := fmt.Sprintf("10%08d", 1000000+i*7)
	return body + string(luhnDigit(body))
}

// finess returns the 9-digit FINESS number of organisation i in a
// department: the department (20 for Corsica), six digits and a Luhn key.
func finess(department string, i int) string {
	if department == "2A" || department == "2B" {
		department = "20"
	}
	body := fmt.Sprintf("%s%06d", department, 100000+i*13)
	return body + string(luhnDigit(body))
}
