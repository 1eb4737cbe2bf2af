package elastic

import (
	sd "github.com/switchyard/switchyard/search/internal/searchdoc"
)

// templateVersion grows with every change to the template below. Indices
// keep the mappings they were created with: a change reaches the live index
// through a rebuild.
const templateVersion = 1

// Multi-fields of the mapping, next to searchdoc's field names.
const (
	fieldNamePrefix  = sd.FieldName + ".prefix"
	fieldEmailExact  = sd.FieldEmail + ".exact"
	fieldEmailPrefix = sd.FieldEmail + ".prefix"
)

// indexTemplate is the composable index template for every index named
// <name>-idx-*: explicit, strict mappings and the analyzers the embedded
// backend mirrors. Words are runs of letters, digits and marks (the pattern
// tokenizer splits on everything else), lower-cased and folded to ASCII; no
// stop words and no stemming, so "or" and "the" are words like any other.
func indexTemplate(name string) map[string]any {
	text := func(extra map[string]any) map[string]any {
		m := map[string]any{"type": "text", "analyzer": "sy_text"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	keyword := map[string]any{"type": "keyword"}
	return map[string]any{
		"index_patterns": []string{name + "-idx-*"},
		"version":        templateVersion,
		"priority":       200,
		"_meta":          map[string]any{"owner": "switchyard", "description": "switchyard search index"},
		"template": map[string]any{
			"settings": map[string]any{
				"index": map[string]any{
					"number_of_shards":  1,
					"refresh_interval":  "1s",
					"max_result_window": 10000,
				},
				"analysis": map[string]any{
					"tokenizer": map[string]any{
						"sy_words": map[string]any{"type": "pattern", "pattern": sd.SplitPattern},
					},
					"filter": map[string]any{
						"sy_edge":      map[string]any{"type": "edge_ngram", "min_gram": 1, "max_gram": 20},
						"sy_edge_long": map[string]any{"type": "edge_ngram", "min_gram": 1, "max_gram": 40},
					},
					"normalizer": map[string]any{
						"sy_lower": map[string]any{"type": "custom", "filter": []string{"lowercase"}},
					},
					"analyzer": map[string]any{
						"sy_text": map[string]any{
							"type": "custom", "tokenizer": "sy_words", "filter": []string{"lowercase", "asciifolding"},
						},
						"sy_prefix": map[string]any{
							"type": "custom", "tokenizer": "sy_words", "filter": []string{"lowercase", "asciifolding", "sy_edge"},
						},
						"sy_lower": map[string]any{
							"type": "custom", "tokenizer": "keyword", "filter": []string{"lowercase"},
						},
						"sy_email_prefix": map[string]any{
							"type": "custom", "tokenizer": "keyword", "filter": []string{"lowercase", "sy_edge_long"},
						},
					},
				},
			},
			"mappings": map[string]any{
				"dynamic": "strict",
				"_source": map[string]any{"enabled": true},
				"properties": map[string]any{
					sd.FieldKey:     keyword,
					sd.FieldType:    keyword,
					sd.FieldVersion: map[string]any{"type": "long", "index": false},
					sd.FieldKind:    text(nil),
					sd.FieldName: text(map[string]any{"fields": map[string]any{
						"prefix": map[string]any{"type": "text", "analyzer": "sy_prefix", "search_analyzer": "sy_text"},
					}}),
					sd.FieldEmail: text(map[string]any{"fields": map[string]any{
						"exact":  map[string]any{"type": "keyword", "normalizer": "sy_lower"},
						"prefix": map[string]any{"type": "text", "analyzer": "sy_email_prefix", "search_analyzer": "sy_lower"},
					}}),
					sd.FieldNumber:        text(nil),
					sd.FieldNumberKeys:    keyword,
					sd.FieldDescription:   text(nil),
					sd.FieldCustomerName:  text(nil),
					sd.FieldCustomerEmail: text(nil),
					sd.FieldProjectName:   text(nil),
					sd.FieldStatus:        keyword,
					sd.FieldProjectID:     keyword,
					sd.FieldCreatedAt:     map[string]any{"type": "date_nanos", "format": "strict_date_optional_time_nanos"},
					sd.FieldTotal:         map[string]any{"type": "double"},
					sd.FieldCurrency:      keyword,
					sd.FieldACL:           keyword,
				},
			},
		},
	}
}
