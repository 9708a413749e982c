import Foundation

/// Records as CSV (RFC 4180): a header row `name,type,content,ttl,dynamic,comment`, fields with
/// commas, quotes or line breaks quoted, quotes doubled. Columns may come in any order; `ttl`,
/// `dynamic` and `comment` may be left out.
enum RecordsCSV {
    static let header = ["name", "type", "content", "ttl", "dynamic", "comment"]

    static func line(_ fields: [String]) -> String {
        fields.map { field in
            guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || field.hasPrefix(" ") || field.hasSuffix(" ") else {
                return field
            }
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }

    /// Parses the file into records numbered by their line (the header is line 1). Malformed
    /// structure (an unclosed quote, a missing column) is one error naming the line.
    static func parse(_ text: String) throws -> [(Int, PortableRecord)] {
        let rows = try split(text)
        guard let head = rows.first else { throw NebulaError.unprocessable("The CSV file is empty.", code: "invalid_file") }
        let columns = head.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for required in ["name", "type", "content"] where !columns.contains(required) {
            throw NebulaError.unprocessable("The CSV header needs the columns name, type and content (found: \(columns.joined(separator: ", "))).", code: "invalid_file")
        }
        for column in columns where !header.contains(column) {
            throw NebulaError.unprocessable("Unknown CSV column '\(column)'; the columns are \(header.joined(separator: ", ")).", code: "invalid_file")
        }
        var records: [(Int, PortableRecord)] = []
        for row in rows.dropFirst() {
            if row.fields.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
            guard row.fields.count == columns.count else {
                throw NebulaError.unprocessable("Line \(row.line) has \(row.fields.count) fields; the header has \(columns.count).", code: "invalid_file")
            }
            var values: [String: String] = [:]
            for (column, field) in zip(columns, row.fields) { values[column] = field.trimmingCharacters(in: .whitespaces) }
            let ttlText = values["ttl"] ?? ""
            let ttl: Int?
            if ttlText.isEmpty {
                ttl = nil
            } else if let parsed = Int(ttlText) {
                ttl = parsed
            } else {
                ttl = -1  // reported by the record validation with the row
            }
            let dynamicText = (values["dynamic"] ?? "").lowercased()
            records.append((row.line, PortableRecord(
                name: values["name"] ?? "", type: values["type"] ?? "", content: values["content"] ?? "", ttl: ttl,
                dynamic: ["true", "yes", "1"].contains(dynamicText) ? true : nil,
                comment: values["comment"].flatMap { $0.isEmpty ? nil : $0 })))
        }
        return records
    }

    private struct Row {
        var line: Int
        var fields: [String]
    }

    private static func split(_ text: String) throws -> [Row] {
        var rows: [Row] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var rowStart = 1
        var iterator = Array(text.replacingOccurrences(of: "\r\n", with: "\n")).makeIterator()
        var pending: Character? = iterator.next()
        while let character = pending {
            pending = iterator.next()
            if quoted {
                if character == "\"" {
                    if pending == "\"" {
                        field.append("\"")
                        pending = iterator.next()
                    } else {
                        quoted = false
                    }
                } else {
                    if character == "\n" { line += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.trimmingCharacters(in: .whitespaces).isEmpty:
                field = ""
                quoted = true
            case ",":
                fields.append(field)
                field = ""
            case "\n":
                fields.append(field)
                rows.append(Row(line: rowStart, fields: fields))
                fields = []
                field = ""
                line += 1
                rowStart = line
            default:
                field.append(character)
            }
        }
        if quoted { throw NebulaError.unprocessable("Line \(rowStart) opens a quoted field that is never closed.", code: "invalid_file") }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            rows.append(Row(line: rowStart, fields: fields))
        }
        return rows
    }
}
