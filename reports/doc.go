// Package reports renders what happened — run results and benchmark reports —
// as JSON, Markdown (CI job summaries) and HTML with SVG charts.
//
// It only reads results: it must not run scenarios, measure, or change what
// it is given. JUnit XML lives in reports/junit.
package reports
