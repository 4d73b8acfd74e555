//! The MDE CSV reader: whole files, header and rows, each row validated like an import.

use super::refused;
use crate::{Checker, Target, Verdict};
use iocd_model::csv_format::CsvReader;
use iocd_model::{Timestamp, ValidationOptions, validate_submission};

pub(super) const TARGET: Target = Target {
    name: "csv",
    about: "MDE CSV files through CsvReader and validation: no panic, every row accounted for, every refusal with a message",
    seeds: &[
        b"IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert\nFileSha256,e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855,2030-01-01T00:00:00Z,Block,High,t,d,r,\"g1,g2\",Malware,T1059.001,true\nDomainName,evil.example,,Audit,Low,t,d,,,,,TRUE\n",
        b"indicatortype,indicatorvalue,action,title,description\r\nIpAddress,203.0.113.0/24,Warn,\"a \"\"quoted\"\" title\",d\r\nUrl,http://evil.example/a?b=c,Allowed,t,d\r\n",
        b"\xef\xbb\xbfIndicatorType,IndicatorValue,Action,Title,Description,RbacGroupNames\nCertificateThumbprint,a1b2c3d4e5f60718293a4b5c6d7e8f9012345678,BlockAndRemediate,t,d,\n\n,,,,,\n",
    ],
    dictionary: &[
        ",", "\"", "\"\"", "\n", "\r\n", "\r", "IndicatorType", "IndicatorValue", "ExpirationTime",
        "Action", "Severity", "Title", "Description", "RecommendedActions", "RbacGroups",
        "RbacGroupNames", "Category", "MitreTechniques", "GenerateAlert", "FileSha1", "FileMd5",
        "FileSha256", "CertificateThumbprint", "IpAddress", "DomainName", "Url", "Block", "Audit",
        "Warn", "Allowed", "BlockAndRemediate", "AlertAndBlock", "High", "Informational",
        "true", "false", "2030-12-31T23:59:59Z", "1999-01-01", "T1059", "\u{feff}",
    ],
    max_len: 4096,
    grammar: None,
    make,
};

fn make() -> Checker {
    let now = Timestamp::from_unix_seconds(1_760_000_000);
    let options = [
        ValidationOptions::csv(now, false),
        ValidationOptions::csv(now, true),
    ];
    Box::new(move |input: &[u8]| {
        let mut reader = match CsvReader::new(input) {
            Ok(reader) => reader,
            Err(error) => return refused(&error.to_string(), "the file"),
        };
        let mut last_line = 1;
        let mut rows = 0usize;
        let mut accepted = false;
        while let Some(row) = reader.next_row() {
            rows += 1;
            if rows > input.len() {
                return Err(format!("{rows} rows from {} bytes", input.len()));
            }
            if row.line <= last_line {
                return Err(format!("row line {} after line {last_line}", row.line));
            }
            last_line = row.line;
            let submission = match row.submission {
                Ok(submission) => submission,
                Err(error) => {
                    refused(&error.message, "a row")?;
                    continue;
                }
            };
            for options in &options {
                match validate_submission(&submission, options) {
                    Ok(_) => accepted = true,
                    Err(error) => {
                        refused(&error.message, "a row's submission")?;
                    }
                }
            }
        }
        if let Some(error) = reader.take_error() {
            return refused(&error.to_string(), "the rest of the file");
        }
        Ok(if accepted {
            Verdict::Accepted
        } else {
            Verdict::Refused
        })
    })
}
