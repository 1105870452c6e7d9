import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Safe to import from workflow code: @temporalio/common is deterministic and bundled with workflows.
export const JourneyIdKey = defineSearchAttributeKey('JourneyId', SearchAttributeType.KEYWORD);
export const JourneyVersionKey = defineSearchAttributeKey('JourneyVersion', SearchAttributeType.INT);
export const ContactIdKey = defineSearchAttributeKey('ContactId', SearchAttributeType.KEYWORD);
export const JourneyStepKey = defineSearchAttributeKey('JourneyStep', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [JourneyIdKey, JourneyVersionKey, ContactIdKey, JourneyStepKey] as const;

/** `--search-attribute` values for `temporal server start-dev` and `temporal operator search-attribute create`. */
export const SEARCH_ATTRIBUTE_FLAGS = ['JourneyId=Keyword', 'JourneyVersion=Int', 'ContactId=Keyword', 'JourneyStep=Keyword'];
