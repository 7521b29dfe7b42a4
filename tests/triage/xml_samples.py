"""Small hand-written CyberTipline documents for the reader tests (fictional content)."""

from __future__ import annotations

REPORT = """<?xml version="1.0" encoding="UTF-8"?>
<report>
  <reportId>R-1</reportId>
  <batchedReport reason="VIRAL_POTENTIAL_MEME"/>
  <incidentSummary>
    <incidentType>Online Enticement of Children for Sexual Acts</incidentType>
    <platform>Example Chat</platform>
    <escalateToHighPriority>child appears to be in danger now</escalateToHighPriority>
    <reportAnnotations><sextortion/><minorToMinorInteraction>false</minorToMinorInteraction>
    </reportAnnotations>
    <incidentDateTime>2026-03-01T10:00:00Z</incidentDateTime>
  </incidentSummary>
  <internetDetails>
    <webPageIncident thirdPartyHostedContent="true">
      <url>https://files.example.net/u/secret-name/page?x=1</url>
    </webPageIncident>
  </internetDetails>
  <reporter><espName>Example Provider</espName></reporter>
  <personOrUserReported>
    <personOrUserReportedPerson>
      <firstName>Fictional</firstName><lastName>Person</lastName>
      <email>Someone@Example.org</email><phone>+31 6 555 00000</phone>
    </personOrUserReportedPerson>
    <espIdentifier>acct-42</espIdentifier>
    <espService>Example Chat</espService>
    <screenName>fictional_42</screenName>
    <ipCaptureEvent><ipAddress>192.0.2.7</ipAddress><eventName>Login</eventName>
      <dateTime>2026-03-01T09:00:00Z</dateTime></ipCaptureEvent>
    <deviceId><idType>IMEI</idType><idValue>000000000000000</idValue></deviceId>
    <priorCTReports>111</priorCTReports><priorCTReports>222</priorCTReports>
    <estimatedLocation><city>Example City</city><region>Example Region</region>
      <countryCode>nl</countryCode></estimatedLocation>
    <associatedAccount><espService>Example Photos</espService>
      <espIdentifier>alt-42</espIdentifier></associatedAccount>
    <someFutureElement>kept sealed, counted</someFutureElement>
  </personOrUserReported>
  <victim><victimPerson><age>13</age></victimPerson><screenName>victim_1</screenName></victim>
  <intendedRecipient><screenName>recipient_1</screenName></intendedRecipient>
</report>
"""

FILE_DETAILS = """<?xml version="1.0" encoding="UTF-8"?>
<fileDetails>
  <reportId>R-1</reportId>
  <fileId>F-1</fileId>
  <fileName>holiday photo of someone.JPG</fileName>
  <fileViewedByEsp>true</fileViewedByEsp>
  <publiclyAvailable>false</publiclyAvailable>
  <fileRelevance>Reported</fileRelevance>
  <fileAnnotations><possibleSelfProduction/><infant>false</infant></fileAnnotations>
  <industryClassification>A1</industryClassification>
  <originalFileHash hashType="MD5">0123456789ABCDEF0123456789ABCDEF</originalFileHash>
  <originalFileHash hashType="NETCLEAN">opaque</originalFileHash>
  <details type="HASH"><nameValuePair><name>PDQ</name>
    <value>f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22</value>
  </nameValuePair></details>
</fileDetails>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<report><reportId>&lol9;</reportId></report>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE report [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<report><reportId>&xxe;</reportId></report>
"""
