include $(sort $(wildcard $(BR2_EXTERNAL_COHORT_PATH)/package/*/*.mk))
