package embedded

import (
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/token/edgengram"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/regexp"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/single"
	"github.com/blevesearch/bleve/v2/mapping"

	sd "github.com/switchyard/switchyard/search/internal/searchdoc"
)

// Analyzers. No stop words and no stemming: "OR", "the" and "A1" are words a
// user may look for, and every query term is matched programmatically. Words
// are runs of letters and digits, as in the Elasticsearch backend's pattern
// tokenizer, so both split "SO-001432", "alice@example.com" and "R&D" alike.
const (
	analyzerText        = "sy_text"         // words, folded to ASCII, lower-cased
	analyzerPrefix      = "sy_prefix"       // sy_text plus edge n-grams, for type-ahead on names
	analyzerLower       = "sy_lower"        // the whole value, lower-cased
	analyzerEmailPrefix = "sy_email_prefix" // edge n-grams of the whole email
)

// fieldAll is Bleve's composite field of every text field.
const fieldAll = "_all"

// fieldRow holds a document's columns (columns.go) as one doc value.
const fieldRow = "_row"

func indexMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	if err := m.AddCustomTokenizer("sy_words", map[string]any{
		"type": regexp.Name, "regexp": sd.WordPattern,
	}); err != nil {
		return nil, err
	}
	if err := m.AddCustomTokenFilter("sy_edge", map[string]any{
		"type": edgengram.Name, "back": false, "min": 1.0, "max": 20.0,
	}); err != nil {
		return nil, err
	}
	if err := m.AddCustomTokenFilter("sy_edge_long", map[string]any{
		"type": edgengram.Name, "back": false, "min": 1.0, "max": 40.0,
	}); err != nil {
		return nil, err
	}
	analyzers := map[string]map[string]any{
		analyzerText: {
			"type": custom.Name, "char_filters": []any{asciifolding.Name},
			"tokenizer": "sy_words", "token_filters": []any{lowercase.Name},
		},
		analyzerPrefix: {
			"type": custom.Name, "char_filters": []any{asciifolding.Name},
			"tokenizer": "sy_words", "token_filters": []any{lowercase.Name, "sy_edge"},
		},
		analyzerLower: {
			"type": custom.Name, "tokenizer": single.Name, "token_filters": []any{lowercase.Name},
		},
		analyzerEmailPrefix: {
			"type": custom.Name, "tokenizer": single.Name, "token_filters": []any{lowercase.Name, "sy_edge_long"},
		},
	}
	for name, cfg := range analyzers {
		if err := m.AddCustomAnalyzer(name, cfg); err != nil {
			return nil, err
		}
	}

	text := func(name string, store bool) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Name = name
		f.Analyzer = analyzerText
		f.Store = store
		f.IncludeTermVectors = store // highlighting needs the stored text and term positions
		// Every text field feeds _all, whose dictionary is where a typo's
		// candidates are looked up once for all fields.
		f.IncludeInAll = true
		f.DocValues = false
		return f
	}
	analyzed := func(name, analyzer string) *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Name = name
		f.Analyzer = analyzer
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	kw := func(name string, docValues bool) *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Name = name
		f.Analyzer = keyword.Name
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = docValues
		return f
	}

	doc := bleve.NewDocumentStaticMapping()
	add := doc.AddFieldMappingsAt
	add(sd.FieldKey, kw(sd.FieldKey, false))
	add(sd.FieldType, kw(sd.FieldType, false))
	version := bleve.NewNumericFieldMapping()
	version.Name = sd.FieldVersion
	version.Index = false
	version.Store = true
	version.DocValues = false
	version.IncludeInAll = false
	add(sd.FieldVersion, version)
	add(sd.FieldKind, text(sd.FieldKind, false))
	add(sd.FieldName, text(sd.FieldName, true), analyzed(sd.FieldNamePrefix, analyzerPrefix))
	add(sd.FieldEmail, text(sd.FieldEmail, true), analyzed(sd.FieldEmailExact, analyzerLower), analyzed(sd.FieldEmailPrefix, analyzerEmailPrefix))
	add(sd.FieldNumber, text(sd.FieldNumber, true))
	add(sd.FieldNumberKeys, kw(sd.FieldNumberKeys, false))
	add(sd.FieldDescription, text(sd.FieldDescription, true))
	add(sd.FieldCustomerName, text(sd.FieldCustomerName, true))
	add(sd.FieldCustomerEmail, text(sd.FieldCustomerEmail, true))
	add(sd.FieldProjectName, text(sd.FieldProjectName, true))
	add(sd.FieldStatus, kw(sd.FieldStatus, false))
	add(sd.FieldProjectID, kw(sd.FieldProjectID, false))
	// Facets and range filters come from the columns (columns.go),
	// read per segment from this one doc-values column; createdAt and total
	// are not indexed at all.
	add(fieldRow, kw(fieldRow, true))
	add(sd.FieldCurrency, kw(sd.FieldCurrency, false))
	add(sd.FieldACL, kw(sd.FieldACL, false))

	m.DefaultMapping = doc
	m.DefaultField = fieldAll
	m.DefaultAnalyzer = analyzerText
	m.StoreDynamic = false
	m.IndexDynamic = false
	m.DocValuesDynamic = false
	return m, m.Validate()
}
