package sqlquery

import "testing"

func TestPlaceholders(t *testing.T) {
	names := []string{"city", "from_date"}
	tests := []struct{ in, want string }{
		{"SELECT * FROM v WHERE city = :city", "SELECT * FROM v WHERE city = $city"},
		{"WHERE d >= :from_date AND c = :city", "WHERE d >= $from_date AND c = $city"},
		{"SELECT x::INTEGER, :city::VARCHAR", "SELECT x::INTEGER, $city::VARCHAR"},
		{"SELECT ':city', \":city\", E'\\':city', $$ :city $$, $t$ :city $t$", "SELECT ':city', \":city\", E'\\':city', $$ :city $$, $t$ :city $t$"},
		{"SELECT 1 -- :city\n, :city /* :city */", "SELECT 1 -- :city\n, $city /* :city */"},
		{"SELECT :other, :cityx, $1, $city, 'it''s :city'", "SELECT :other, :cityx, $1, $city, 'it''s :city'"},
		{"SELECT {'a': 1}, {'b':2}", "SELECT {'a': 1}, {'b':2}"},
		{"SELECT ':city", "SELECT ':city"},
	}
	for _, tt := range tests {
		if got := Placeholders(tt.in, names); got != tt.want {
			t.Errorf("Placeholders(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
	if got := Placeholders("SELECT :city", nil); got != "SELECT :city" {
		t.Errorf("no names: %q", got)
	}
}
